-- Day-end versions of each CRM account.
{{ versioned_history('raw_crm', 'accounts', key='account_id', columns={
    'account_id': 'account_id',
    'industry': 'industry',
    'region': 'region',
    'size_band': 'size_band',
    'status': 'lower(status)',
    'created_date': utc_date('created_at'),
}) }}
