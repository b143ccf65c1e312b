-- Day-end versions of each CRM support ticket.
{{ versioned_history('raw_crm', 'tickets', key='ticket_id', columns={
    'ticket_id': 'ticket_id',
    'account_id': 'account_id',
    'category': 'lower(category)',
    'severity': 'severity',
    'opened_at': 'opened_at',
    'opened_date': utc_date('opened_at'),
    'closed_at': 'closed_at',
    'closed_date': utc_date('closed_at'),
}) }}
