with

source as (
    select * from {{ source('raw_crm', 'activities') }}
),

renamed as (
    select
        activity_id,
        account_id,
        lower(activity_type) as activity_type,
        activity_at,
        {{ utc_date('activity_at') }} as activity_date,
        lower(outcome) as outcome,
        created_at,
        updated_at,
        _extracted_at as extracted_at,
        {{ utc_date('coalesce(created_at, updated_at)') }} as known_since_date
    from source
),

{{ day_end_versions('renamed', 'activity_id') }}

select
    activity_id,
    account_id,
    activity_type,
    activity_at,
    activity_date,
    outcome,
    known_since_date,
    created_at,
    updated_at,
    valid_from_date,
    valid_to_date
from versions
