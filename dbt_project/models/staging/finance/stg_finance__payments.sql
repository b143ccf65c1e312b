-- The latest version of each payment: the open-ended version of its history.
{{ latest_from_history('stg_finance__payment_history', columns=[
    'payment_id', 'invoice_id', 'payment_date', 'amount', 'currency', 'amount_eur',
]) }}
