-- The latest version of each row: the open-ended version of its history.
select
    dispute_id,
    invoice_id,
    account_id,
    opened_date,
    resolved_date,
    amount,
    currency,
    amount_eur,
    status,
    created_at,
    updated_at,
    valid_from_date as last_changed_date
from {{ ref('stg_finance__dispute_history') }}
where valid_to_date = date '9999-12-31'
