-- The latest version of each invoice: the open-ended version of its history.
{{ latest_from_history('stg_finance__invoice_history', columns=[
    'invoice_id', 'account_id', 'issue_date', 'due_date', 'amount', 'currency', 'amount_eur',
    'status',
]) }}
