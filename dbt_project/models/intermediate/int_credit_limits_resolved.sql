-- The credit limit valid at each evaluation date (snapshot dates and 3 months earlier): the known
-- limit with the latest valid_from on or before the date.
{{ latest_effective_per_account(
    'stg_finance__credit_limit_history',
    effective_date='valid_from',
    key='limit_id',
    columns=['limit_id', 'valid_from', 'credit_limit_eur'],
    lags=[3]
) }}
