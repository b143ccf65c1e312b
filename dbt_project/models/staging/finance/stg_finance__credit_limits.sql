-- The latest version of each row: the open-ended version of its history.
select
    limit_id,
    account_id,
    credit_limit,
    currency,
    credit_limit_eur,
    valid_from,
    created_at,
    updated_at,
    valid_from_date as last_changed_date
from {{ ref('stg_finance__credit_limit_history') }}
where valid_to_date = date '9999-12-31'
