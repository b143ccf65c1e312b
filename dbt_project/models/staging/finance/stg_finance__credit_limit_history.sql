with

source as (
    select * from {{ source('raw_finance', 'credit_limits') }}
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

renamed as (
    select
        source.limit_id,
        source.customer_id as account_id,
        source.credit_limit,
        coalesce(upper(source.currency), 'EUR') as currency,
        {{ to_eur('source.credit_limit', 'source.currency') }}
            as credit_limit_eur,
        source.valid_from,
        source.created_at,
        source.updated_at,
        source._extracted_at as extracted_at,
        {{ utc_date('coalesce(source.created_at, source.updated_at)') }}
            as known_since_date
    from source
    left join fx_rates
        on coalesce(upper(source.currency), 'EUR') = fx_rates.currency
),

{{ day_end_versions('renamed', 'limit_id') }}

select
    limit_id,
    account_id,
    credit_limit,
    currency,
    credit_limit_eur,
    valid_from,
    known_since_date,
    created_at,
    updated_at,
    valid_from_date,
    valid_to_date
from versions
