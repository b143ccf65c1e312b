-- The latest version of each row: the open-ended version of its history.
select
    event_id,
    account_id,
    event_date,
    event_type,
    created_at,
    updated_at,
    valid_from_date as last_changed_date
from {{ ref('stg_finance__default_event_history') }}
where valid_to_date = date '9999-12-31'
