-- The latest version of each activity: the open-ended version of its history.
{{ latest_from_history('stg_crm__activity_history', columns=[
    'activity_id', 'account_id', 'activity_type', 'activity_at', 'activity_date', 'outcome',
]) }}
