{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='fail',
        indexes=[
            {'columns': ['as_of_date']},
            {'columns': ['customer_id', 'as_of_date'], 'unique': true},
        ],
    )
}}

-- Default labels of the feature snapshots whose horizon (as_of_date, as_of_date + horizon] has
-- passed by the label cutoff. A run labels the snapshot dates it built plus every mature snapshot
-- date not labelled yet; a history build relabels all.
{%- set horizon = var('default_horizon_months') | int %}

with

bounds as (
    select * from {{ ref('int_data_bounds_computed') }}
),

cutoff as (
    select
        {%- if var('label_cutoff_date') %}
            cast('{{ var("label_cutoff_date") }}' as date) as label_cutoff_date
        {%- else %}
            last_data_date as label_cutoff_date
        {%- endif %}
    from bounds
),

features as (
    select
        customer_id,
        as_of_date
    from {{ ref('customer_features') }}
),

snapshot_dates as (
    select * from {{ ref('int_snapshot_dates_selected') }}
),

default_event_history as (
    select * from {{ ref('stg_finance__default_event_history') }}
),

-- the distinct snapshot dates, walking the as_of_date index (a loose index scan) instead of
-- reading every feature row (refs stay unaliased: `dbt --empty` wraps them in an aliased subquery)
feature_dates as (
    with recursive walk (as_of_date) as (
        select min(as_of_date) from {{ ref('customer_features') }}
        union all
        select (
            select min(as_of_date) from {{ ref('customer_features') }}  -- noqa: RF02, RF03
            where as_of_date > walk.as_of_date  -- noqa: RF02, RF03
        )
        from walk
        where walk.as_of_date is not null
    )

    select walk.as_of_date from walk
    where walk.as_of_date is not null
),

mature_dates as (
    select
        feature_dates.as_of_date,
        {{ months_before('feature_dates.as_of_date', -horizon) }} as horizon_end_date,
        cutoff.label_cutoff_date
    from feature_dates
    cross join cutoff
    where
        {{ months_before('feature_dates.as_of_date', -horizon) }}
        <= cutoff.label_cutoff_date
        {%- if is_incremental() and not is_history_build() %}
            and (
                feature_dates.as_of_date in (
                    select snapshot_dates.as_of_date from snapshot_dates
                )
                or not exists (
                    select 1 from {{ this }}
                    where {{ this }}.as_of_date = feature_dates.as_of_date
                )
            )
        {%- endif %}
),

default_events as (
    select
        {{ pseudonymise('default_event_history.account_id') }} as customer_id,
        default_event_history.event_date
    from default_event_history
    cross join cutoff
    where {{ known_at('default_event_history', 'cutoff.label_cutoff_date') }}
),

labelled as (
    select
        features.customer_id,
        features.as_of_date,
        mature_dates.horizon_end_date,
        mature_dates.label_cutoff_date,
        min(default_events.event_date) as first_default_date
    from features
    inner join mature_dates
        on features.as_of_date = mature_dates.as_of_date
    left join default_events
        on
            features.customer_id = default_events.customer_id
            and features.as_of_date < default_events.event_date
            and mature_dates.horizon_end_date >= default_events.event_date
    group by
        features.customer_id,
        features.as_of_date,
        mature_dates.horizon_end_date,
        mature_dates.label_cutoff_date
)

select
    customer_id,
    as_of_date,
    horizon_end_date,
    case when first_default_date is not null then 1 else 0 end as default_flag,
    first_default_date,
    label_cutoff_date
from labelled
