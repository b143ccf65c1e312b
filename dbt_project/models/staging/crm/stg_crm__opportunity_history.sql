with

source as (
    select * from {{ source('raw_crm', 'opportunities') }}
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

renamed as (
    select
        source.opportunity_id,
        source.account_id,
        source.amount,
        coalesce(upper(source.currency), 'EUR') as currency,
        {{ to_eur('source.amount', 'source.currency') }} as amount_eur,
        lower(source.stage) as stage,
        source.closed_at,
        {{ utc_date('source.closed_at') }} as closed_date,
        source.created_at,
        source.updated_at,
        source._extracted_at as extracted_at,
        {{ utc_date('coalesce(source.created_at, source.updated_at)') }}
            as known_since_date
    from source
    left join fx_rates
        on coalesce(upper(source.currency), 'EUR') = fx_rates.currency
),

{{ day_end_versions('renamed', 'opportunity_id') }}

select
    opportunity_id,
    account_id,
    amount,
    currency,
    amount_eur,
    stage,
    closed_at,
    closed_date,
    known_since_date,
    created_at,
    updated_at,
    valid_from_date,
    valid_to_date
from versions
