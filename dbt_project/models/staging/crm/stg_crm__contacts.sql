with

source as (
    select * from {{ source('raw_crm', 'contacts') }}
),

renamed as (
    select
        contact_id,
        account_id,
        first_name,
        last_name,
        lower(email) as email,
        phone,
        created_at,
        updated_at,
        _extracted_at as extracted_at
    from source
),

{{ latest_versions('renamed', 'contact_id') }}

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
