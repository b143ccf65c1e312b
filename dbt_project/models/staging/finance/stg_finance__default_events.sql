-- The latest version of each default event: the open-ended version of its history.
{{ latest_from_history('stg_finance__default_event_history', columns=[
    'event_id', 'account_id', 'event_date', 'event_type',
]) }}
