-- The latest version of each dispute: the open-ended version of its history.
{{ latest_from_history('stg_finance__dispute_history', columns=[
    'dispute_id', 'invoice_id', 'account_id', 'opened_date', 'resolved_date', 'amount', 'currency',
    'amount_eur', 'status',
]) }}
