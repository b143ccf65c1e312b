-- Day-end versions of each external bureau rating. One row per rating and UTC day of updated_at on
-- which it changed (the version that stood at the end of that day), valid until the next version's
-- day. A daily run recomputes only the ratings that its new raw batches touch (README: History
-- models).
{{ config(
    materialized='incremental',
    incremental_strategy='history_versions',
    unique_key='rating_id',
    on_schema_change='fail',
    indexes=[
        {'columns': ['rating_id']},
        {'columns': ['source_extracted_at']},
        {'columns': ['source_interval_start']},
    ],
) }}

with

{% if is_incremental() -%}
    changed_keys as (
        {{ keys_changed_since_last_run(source('raw_finance', 'bureau_ratings'), 'rating_id') }}
    ),

{% endif -%}
source as (
    select * from {{ source('raw_finance', 'bureau_ratings') }}
    {%- if is_incremental() %}
        where rating_id = any(array(select changed_keys.rating_id from changed_keys))
    {%- endif %}
),

renamed as (
    select
        source.rating_id,
        source.customer_id as account_id,
        source.agency,
        source.score,
        source.rating_date,
        {{ utc_date('coalesce(source.created_at, source.updated_at)') }} as known_since_date,
        source.created_at,
        source.updated_at,
        {{ utc_date('source.updated_at') }} as valid_from_date,
        source._extracted_at as source_extracted_at,
        source._interval_start as source_interval_start
    from source
),

-- the last version of each day: latest updated_at, then the latest extraction
day_end_versions as (
    select distinct on (rating_id, valid_from_date) *
    from renamed
    order by rating_id asc, valid_from_date asc, updated_at desc, source_extracted_at desc
),

versions as (
    -- the columns later models read (updated_at only orders the day's versions)
    select
        rating_id,
        account_id,
        agency,
        score,
        rating_date,
        known_since_date,
        created_at,
        valid_from_date,
        source_extracted_at,
        source_interval_start,
        coalesce(
            lead(valid_from_date) over (partition by rating_id order by valid_from_date),
            {{ open_ended_date() }}
        ) as valid_to_date
    from day_end_versions
)

{% if is_incremental() -%}
    -- a changed rating without any raw row left (its only batch was reloaded without it) comes out
    -- as its rating_id with every other column null (using keeps one rating_id, from changed_keys):
    -- history_versions deletes its versions and inserts nothing for it
    select * from changed_keys  -- noqa: RF02
    left join versions using (rating_id)
{%- else -%}
    select * from versions
{%- endif %}
