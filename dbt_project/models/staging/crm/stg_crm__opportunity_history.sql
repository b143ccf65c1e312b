-- Day-end versions of each CRM opportunity, with its amount in EUR. One row per opportunity and UTC
-- day of updated_at on which it changed (the version that stood at the end of that day), valid
-- until the next version's day. A daily run recomputes only the opportunities that its new raw
-- batches touch (README: History models).
{{ config(
    materialized='incremental',
    incremental_strategy='history_versions',
    unique_key='opportunity_id',
    on_schema_change='fail',
    indexes=[
        {'columns': ['opportunity_id']},
        {'columns': ['source_extracted_at']},
        {'columns': ['source_interval_start']},
    ],
) }}

with

{% if is_incremental() -%}
    changed_keys as (
        {{ keys_changed_since_last_run(source('raw_crm', 'opportunities'), 'opportunity_id') }}
    ),

{% endif -%}
source as (
    select * from {{ source('raw_crm', 'opportunities') }}
    {%- if is_incremental() %}
        where opportunity_id = any(array(select changed_keys.opportunity_id from changed_keys))
    {%- endif %}
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

renamed as (
    select
        source.opportunity_id,
        source.account_id,
        {{ to_eur('source.amount') }} as amount_eur,
        lower(source.stage) as stage,
        {{ utc_date('source.closed_at') }} as closed_date,
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
    select distinct on (opportunity_id, valid_from_date) *
    from renamed
    order by opportunity_id asc, valid_from_date asc, updated_at desc, source_extracted_at desc
),

versions as (
    -- the columns later models read (updated_at only orders the day's versions)
    select
        opportunity_id,
        account_id,
        amount_eur,
        stage,
        closed_date,
        known_since_date,
        valid_from_date,
        source_extracted_at,
        source_interval_start,
        coalesce(
            lead(valid_from_date) over (partition by opportunity_id order by valid_from_date),
            {{ open_ended_date() }}
        ) as valid_to_date
    from day_end_versions
)

{% if is_incremental() -%}
    -- a changed opportunity without any raw row left (its only batch was reloaded without it) comes
    -- out as its opportunity_id with every other column null (using keeps one opportunity_id, from
    -- changed_keys): history_versions deletes its versions and inserts nothing for it
    select * from changed_keys  -- noqa: RF02
    left join versions using (opportunity_id)
{%- else -%}
    select * from versions
{%- endif %}
