with

source as (
    select * from {{ source('raw_finance', 'payments') }}
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

renamed as (
    select
        source.payment_id,
        source.invoice_id,
        source.payment_date,
        source.amount,
        coalesce(upper(source.currency), 'EUR') as currency,
        {{ to_eur('source.amount', 'source.currency') }} as amount_eur,
        source.created_at,
        source.updated_at,
        source._extracted_at as extracted_at,
        {{ utc_date('coalesce(source.created_at, source.updated_at)') }}
            as known_since_date
    from source
    left join fx_rates
        on coalesce(upper(source.currency), 'EUR') = fx_rates.currency
),

{{ day_end_versions('renamed', 'payment_id') }}

select
    payment_id,
    invoice_id,
    payment_date,
    amount,
    currency,
    amount_eur,
    known_since_date,
    created_at,
    updated_at,
    valid_from_date,
    valid_to_date
from versions
