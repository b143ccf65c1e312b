-- The latest version of each row: the open-ended version of its history.
select
    credit_note_id,
    invoice_id,
    account_id,
    issue_date,
    amount,
    currency,
    amount_eur,
    reason,
    created_at,
    updated_at,
    valid_from_date as last_changed_date
from {{ ref('stg_finance__credit_note_history') }}
where valid_to_date = date '9999-12-31'
