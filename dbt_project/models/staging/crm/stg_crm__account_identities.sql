-- PII of each account (latest version): legal name and tax id. Kept apart from
-- stg_crm__account_history so that nothing downstream can select it by accident; never referenced
-- outside staging.
with

source as (
    select * from {{ source('raw_crm', 'accounts') }}
),

-- the latest version of each account: latest updated_at, then the latest extraction
latest as (
    select distinct on (source.account_id)
        source.account_id,
        source.legal_name,
        source.tax_id,
        source.updated_at
    from source
    order by source.account_id asc, source.updated_at desc, source._extracted_at desc
)

select
    account_id,
    legal_name,
    tax_id,
    updated_at
from latest
