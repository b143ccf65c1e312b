-- Contact persons of each account (latest version; every personal column is PII).
with

source as (
    select * from {{ source('raw_crm', 'contacts') }}
),

-- the latest version of each contact: latest updated_at, then the latest extraction
latest as (
    select distinct on (source.contact_id)
        source.contact_id,
        source.account_id,
        source.first_name,
        source.last_name,
        lower(source.email) as email,
        source.phone,
        source.created_at,
        source.updated_at
    from source
    order by source.contact_id asc, source.updated_at desc, source._extracted_at desc
)

select
    contact_id,
    account_id,
    first_name,
    last_name,
    email,
    phone,
    created_at,
    updated_at
from latest
