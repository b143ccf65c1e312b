-- The latest version of each row: the open-ended version of its history.
select
    invoice_id,
    account_id,
    issue_date,
    due_date,
    amount,
    currency,
    amount_eur,
    status,
    created_at,
    updated_at,
    valid_from_date as last_changed_date
from {{ ref('stg_finance__invoice_history') }}
where valid_to_date = date '9999-12-31'
