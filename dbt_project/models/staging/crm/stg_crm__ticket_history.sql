with

source as (
    select * from {{ source('raw_crm', 'tickets') }}
),

renamed as (
    select
        ticket_id,
        account_id,
        lower(category) as category,
        severity,
        opened_at,
        {{ utc_date('opened_at') }} as opened_date,
        closed_at,
        {{ utc_date('closed_at') }} as closed_date,
        created_at,
        updated_at,
        _extracted_at as extracted_at,
        {{ utc_date('coalesce(created_at, updated_at)') }} as known_since_date
    from source
),

{{ day_end_versions('renamed', 'ticket_id') }}

select
    ticket_id,
    account_id,
    category,
    severity,
    opened_at,
    opened_date,
    closed_at,
    closed_date,
    known_since_date,
    created_at,
    updated_at,
    valid_from_date,
    valid_to_date
from versions
