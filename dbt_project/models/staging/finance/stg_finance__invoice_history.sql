-- Day-end versions of each invoice, with its amount in EUR.
{{ versioned_history('raw_finance', 'invoices', key='invoice_id', columns={
    'invoice_id': 'invoice_id',
    'account_id': 'customer_id',
    'issue_date': 'issue_date',
    'due_date': 'due_date',
    'amount': 'amount',
    'currency': currency_code('currency'),
    'amount_eur': to_eur('amount'),
    'status': 'lower(status)',
}, convert_currency=true) }}
