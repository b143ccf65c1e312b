-- The latest version of each credit note: the open-ended version of its history.
{{ latest_from_history('stg_finance__credit_note_history', columns=[
    'credit_note_id', 'invoice_id', 'account_id', 'issue_date', 'amount', 'currency', 'amount_eur',
    'reason',
]) }}
