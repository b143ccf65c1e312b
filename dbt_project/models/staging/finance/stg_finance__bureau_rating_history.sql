with

source as (
    select * from {{ source('raw_finance', 'bureau_ratings') }}
),

renamed as (
    select
        source.rating_id,
        source.customer_id as account_id,
        source.agency,
        source.rating,
        source.score,
        source.rating_date,
        source.created_at,
        source.updated_at,
        source._extracted_at as extracted_at,
        {{ utc_date('coalesce(source.created_at, source.updated_at)') }}
            as known_since_date
    from source
),

{{ day_end_versions('renamed', 'rating_id') }}

select
    rating_id,
    account_id,
    agency,
    rating,
    score,
    rating_date,
    known_since_date,
    created_at,
    updated_at,
    valid_from_date,
    valid_to_date
from versions
