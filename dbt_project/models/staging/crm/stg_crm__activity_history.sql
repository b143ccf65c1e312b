-- Day-end versions of each CRM activity (calls, visits, mails).
{{ versioned_history('raw_crm', 'activities', key='activity_id', columns={
    'activity_id': 'activity_id',
    'account_id': 'account_id',
    'activity_type': 'lower(activity_type)',
    'activity_at': 'activity_at',
    'activity_date': utc_date('activity_at'),
    'outcome': 'lower(outcome)',
}) }}
