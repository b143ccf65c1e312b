-- Day-end versions of each invoice dispute, with its amount in EUR. One row per dispute and UTC day
-- of updated_at on which it changed (the version that stood at the end of that day), valid until
-- the next version's day. A daily run recomputes only the disputes that its new raw batches touch
-- (README: History models).
{{ config(
    materialized='incremental',
    incremental_strategy='history_versions',
    unique_key='dispute_id',
    on_schema_change='fail',
    indexes=[
        {'columns': ['dispute_id']},
        {'columns': ['source_extracted_at']},
        {'columns': ['source_interval_start']},
    ],
) }}

with

{% if is_incremental() -%}
    changed_keys as (
        {{ keys_changed_since_last_run(source('raw_finance', 'disputes'), 'dispute_id') }}
    ),

{% endif -%}
source as (
    select * from {{ source('raw_finance', 'disputes') }}
    {%- if is_incremental() %}
        where dispute_id = any(array(select changed_keys.dispute_id from changed_keys))
    {%- endif %}
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

renamed as (
    select
        source.dispute_id,
        source.customer_id as account_id,
        source.opened_date,
        source.resolved_date,
        {{ to_eur('source.amount') }} as amount_eur,
        lower(source.status) as status,
        {{ utc_date('coalesce(source.created_at, source.updated_at)') }} as known_since_date,
        source.updated_at,
        {{ utc_date('source.updated_at') }} as valid_from_date,
        source._extracted_at as source_extracted_at,
        source._interval_start as source_interval_start
    from source
    left join fx_rates
        on {{ currency_code('source.currency') }} = fx_rates.currency
),

-- the last version of each day: latest updated_at, then the latest extraction
day_end_versions as (
    select distinct on (dispute_id, valid_from_date) *
    from renamed
    order by dispute_id asc, valid_from_date asc, updated_at desc, source_extracted_at desc
),

versions as (
    -- the columns later models read (updated_at only orders the day's versions)
    select
        dispute_id,
        account_id,
        opened_date,
        resolved_date,
        amount_eur,
        status,
        known_since_date,
        valid_from_date,
        source_extracted_at,
        source_interval_start,
        coalesce(
            lead(valid_from_date) over (partition by dispute_id order by valid_from_date),
            {{ open_ended_date() }}
        ) as valid_to_date
    from day_end_versions
)

{% if is_incremental() -%}
    -- a changed dispute without any raw row left (its only batch was reloaded without it) comes out
    -- as its dispute_id with every other column null (using keeps one dispute_id, from
    -- changed_keys): history_versions deletes its versions and inserts nothing for it
    select * from changed_keys  -- noqa: RF02
    left join versions using (dispute_id)
{%- else -%}
    select * from versions
{%- endif %}
