-- Day-end versions of each credit note, with its amount in EUR.
{{ versioned_history('raw_finance', 'credit_notes', key='credit_note_id', columns={
    'credit_note_id': 'credit_note_id',
    'invoice_id': 'invoice_id',
    'account_id': 'customer_id',
    'issue_date': 'issue_date',
    'amount': 'amount',
    'currency': currency_code('currency'),
    'amount_eur': to_eur('amount'),
    'reason': 'reason',
}, convert_currency=true) }}
