-- The latest version of each credit limit: the open-ended version of its history.
{{ latest_from_history('stg_finance__credit_limit_history', columns=[
    'limit_id', 'account_id', 'credit_limit', 'currency', 'credit_limit_eur', 'valid_from',
]) }}
