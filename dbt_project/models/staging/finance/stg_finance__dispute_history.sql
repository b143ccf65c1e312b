-- Day-end versions of each invoice dispute, with its amount in EUR.
{{ versioned_history('raw_finance', 'disputes', key='dispute_id', columns={
    'dispute_id': 'dispute_id',
    'invoice_id': 'invoice_id',
    'account_id': 'customer_id',
    'opened_date': 'opened_date',
    'resolved_date': 'resolved_date',
    'amount': 'amount',
    'currency': currency_code('currency'),
    'amount_eur': to_eur('amount'),
    'status': 'lower(status)',
}, convert_currency=true) }}
