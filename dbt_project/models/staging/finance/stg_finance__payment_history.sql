-- Day-end versions of each payment, with its amount in EUR.
{{ versioned_history('raw_finance', 'payments', key='payment_id', columns={
    'payment_id': 'payment_id',
    'invoice_id': 'invoice_id',
    'payment_date': 'payment_date',
    'amount': 'amount',
    'currency': currency_code('currency'),
    'amount_eur': to_eur('amount'),
}, convert_currency=true) }}
