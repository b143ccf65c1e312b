-- The latest version of each ticket: the open-ended version of its history.
{{ latest_from_history('stg_crm__ticket_history', columns=[
    'ticket_id', 'account_id', 'category', 'severity', 'opened_at', 'opened_date', 'closed_at',
    'closed_date',
]) }}
