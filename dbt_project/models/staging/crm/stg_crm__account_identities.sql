-- PII of each account (latest version): legal name and tax id. Kept apart from stg_crm__accounts
-- so that nothing downstream can select it by accident; never referenced outside staging.
with

source as (
    select * from {{ source('raw_crm', 'accounts') }}
),

renamed as (
    select
        account_id,
        legal_name,
        tax_id,
        created_at,
        updated_at,
        _extracted_at as extracted_at
    from source
),

{{ latest_versions('renamed', 'account_id') }}

select
    account_id,
    legal_name,
    tax_id,
    updated_at
from latest
