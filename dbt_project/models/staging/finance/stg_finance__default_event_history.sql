-- Day-end versions of each default event.
{{ versioned_history('raw_finance', 'default_events', key='event_id', columns={
    'event_id': 'event_id',
    'account_id': 'customer_id',
    'event_date': 'event_date',
    'event_type': 'lower(event_type)',
}) }}
