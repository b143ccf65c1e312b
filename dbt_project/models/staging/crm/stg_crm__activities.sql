-- The latest version of each row: the open-ended version of its history.
select
    activity_id,
    account_id,
    activity_type,
    activity_at,
    activity_date,
    outcome,
    created_at,
    updated_at,
    valid_from_date as last_changed_date
from {{ ref('stg_crm__activity_history') }}
where valid_to_date = date '9999-12-31'
