with

source as (
    select * from {{ source('raw_finance', 'default_events') }}
),

renamed as (
    select
        source.event_id,
        source.customer_id as account_id,
        source.event_date,
        lower(source.event_type) as event_type,
        source.created_at,
        source.updated_at,
        source._extracted_at as extracted_at,
        {{ utc_date('coalesce(source.created_at, source.updated_at)') }}
            as known_since_date
    from source
),

{{ day_end_versions('renamed', 'event_id') }}

select
    event_id,
    account_id,
    event_date,
    event_type,
    known_since_date,
    created_at,
    updated_at,
    valid_from_date,
    valid_to_date
from versions
