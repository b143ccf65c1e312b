with

source as (
    select * from {{ source('raw_crm', 'accounts') }}
),

renamed as (
    select
        account_id,
        industry,
        region,
        size_band,
        lower(status) as status,
        created_at,
        updated_at,
        _extracted_at as extracted_at,
        {{ utc_date('coalesce(created_at, updated_at)') }} as known_since_date
    from source
),

{{ day_end_versions('renamed', 'account_id') }}

select
    account_id,
    industry,
    region,
    size_band,
    status,
    {{ utc_date('created_at') }} as created_date,
    known_since_date,
    created_at,
    updated_at,
    valid_from_date,
    valid_to_date
from versions
