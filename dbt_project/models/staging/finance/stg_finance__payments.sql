-- The latest version of each row: the open-ended version of its history.
select
    payment_id,
    invoice_id,
    payment_date,
    amount,
    currency,
    amount_eur,
    created_at,
    updated_at,
    valid_from_date as last_changed_date
from {{ ref('stg_finance__payment_history') }}
where valid_to_date = date '9999-12-31'
