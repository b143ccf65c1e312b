-- Day-end versions of each CRM support ticket. One row per ticket and UTC day of updated_at on
-- which it changed (the version that stood at the end of that day), valid until the next version's
-- day. A daily run recomputes only the tickets that its new raw batches touch (README: History
-- models).
{{ config(
    materialized='incremental',
    incremental_strategy='history_versions',
    unique_key='ticket_id',
    on_schema_change='fail',
    indexes=[
        {'columns': ['ticket_id']},
        {'columns': ['source_extracted_at']},
        {'columns': ['source_interval_start']},
    ],
) }}

with

{% if is_incremental() -%}
    changed_keys as (
        {{ keys_changed_since_last_run(source('raw_crm', 'tickets'), 'ticket_id') }}
    ),

{% endif -%}
source as (
    select * from {{ source('raw_crm', 'tickets') }}
    {%- if is_incremental() %}
        where ticket_id = any(array(select changed_keys.ticket_id from changed_keys))
    {%- endif %}
),

renamed as (
    select
        source.ticket_id,
        source.account_id,
        lower(source.category) as category,
        source.severity,
        {{ utc_date('source.opened_at') }} as opened_date,
        {{ utc_date('source.closed_at') }} as closed_date,
        {{ utc_date('coalesce(source.created_at, source.updated_at)') }} as known_since_date,
        source.updated_at,
        {{ utc_date('source.updated_at') }} as valid_from_date,
        source._extracted_at as source_extracted_at,
        source._interval_start as source_interval_start
    from source
),

-- the last version of each day: latest updated_at, then the latest extraction
day_end_versions as (
    select distinct on (ticket_id, valid_from_date) *
    from renamed
    order by ticket_id asc, valid_from_date asc, updated_at desc, source_extracted_at desc
),

versions as (
    -- the columns later models read (updated_at only orders the day's versions)
    select
        ticket_id,
        account_id,
        category,
        severity,
        opened_date,
        closed_date,
        known_since_date,
        valid_from_date,
        source_extracted_at,
        source_interval_start,
        coalesce(
            lead(valid_from_date) over (partition by ticket_id order by valid_from_date),
            {{ open_ended_date() }}
        ) as valid_to_date
    from day_end_versions
)

{% if is_incremental() -%}
    -- a changed ticket without any raw row left (its only batch was reloaded without it) comes out
    -- as its ticket_id with every other column null (using keeps one ticket_id, from changed_keys):
    -- history_versions deletes its versions and inserts nothing for it
    select * from changed_keys  -- noqa: RF02
    left join versions using (ticket_id)
{%- else -%}
    select * from versions
{%- endif %}
