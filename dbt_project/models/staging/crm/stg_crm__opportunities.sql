-- The latest version of each row: the open-ended version of its history.
select
    opportunity_id,
    account_id,
    amount,
    currency,
    amount_eur,
    stage,
    closed_at,
    closed_date,
    created_at,
    updated_at,
    valid_from_date as last_changed_date
from {{ ref('stg_crm__opportunity_history') }}
where valid_to_date = date '9999-12-31'
