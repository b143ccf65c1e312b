-- The latest version of each account: the open-ended version of its history.
{{ latest_from_history('stg_crm__account_history', columns=[
    'account_id', 'industry', 'region', 'size_band', 'status', 'created_date',
]) }}
