-- Day-end versions of each CRM opportunity, with its amount in EUR.
{{ versioned_history('raw_crm', 'opportunities', key='opportunity_id', columns={
    'opportunity_id': 'opportunity_id',
    'account_id': 'account_id',
    'amount': 'amount',
    'currency': currency_code('currency'),
    'amount_eur': to_eur('amount'),
    'stage': 'lower(stage)',
    'closed_at': 'closed_at',
    'closed_date': utc_date('closed_at'),
}, convert_currency=true) }}
