{#- Point-in-time helpers. Every history model (stg_*_history) carries one row per source row and
    day on which it changed: valid_from_date <= D < valid_to_date selects the version that stood at
    the end of day D (UTC), known_since_date is the day the row entered the source (created_at). -#}

{% macro utc_date(column) -%}
    cast(({{ column }} at time zone 'UTC') as date)
{%- endmacro %}


{% macro known_at(alias, date_expr) -%}
    {{ alias }}.valid_from_date <= {{ date_expr }}
    and {{ date_expr }} < {{ alias }}.valid_to_date
    and {{ alias }}.known_since_date <= {{ date_expr }}
{%- endmacro %}


{#- In window (D - n months, D]: the feature windows of config/features.yml. -#}
{% macro in_months_window(column, date_expr, months) -%}
    ({{ column }} > {{ months_before(date_expr, months) }}
    and {{ column }} <= {{ date_expr }})
{%- endmacro %}


{% macro months_before(date_expr, months) -%}
    cast({{ date_expr }} - interval '{{ months }} months' as date)
{%- endmacro %}


{#- Day-end versions of a renamed source CTE: the last version of each key per day
    (latest updated_at, then latest _extracted_at), with its validity interval in days. -#}
{% macro day_end_versions(relation, key) -%}
    last_version_of_day as (
        select
            *,
            {{ utc_date('updated_at') }} as valid_from_date,
            row_number() over (
                partition by {{ key }}, {{ utc_date('updated_at') }}
                order by updated_at desc, extracted_at desc
            ) as version_rank
        from {{ relation }}
    ),

    versions as (
        select
            *,
            coalesce(
                lead(valid_from_date) over (
                    partition by {{ key }} order by valid_from_date
                ),
                {{ open_ended_date() }}
            ) as valid_to_date
        from last_version_of_day
        where version_rank = 1
    )
{%- endmacro %}


{#- The run's snapshot dates plus the same dates `lags` months earlier (for trend features). -#}
{% macro evaluation_dates(lags) -%}
    select as_of_date as evaluation_date
    from {{ ref('int_snapshot_dates_selected') }}
    {%- for lag in lags %}
    union
    select {{ months_before('as_of_date', lag) }} as evaluation_date
    from {{ ref('int_snapshot_dates_selected') }}
    {%- endfor %}
{%- endmacro %}


{#- true when the run rebuilds the whole history rather than one snapshot date. -#}
{% macro is_history_build() -%}
    {{ return(var('history', false) in (true, 'true', 'True', 1, '1') or flags.FULL_REFRESH) }}
{%- endmacro %}


{#- The latest version of each key (latest updated_at, then latest _extracted_at). -#}
{% macro latest_versions(relation, key) -%}
    ranked_versions as (
        select
            *,
            row_number() over (
                partition by {{ key }}
                order by updated_at desc, extracted_at desc
            ) as version_rank
        from {{ relation }}
    ),

    latest as (
        select * from ranked_versions
        where version_rank = 1
    )
{%- endmacro %}


{#- Amount converted to the base currency (EUR) with the row's rate_to_eur from the fx_rates seed
    (joined on currency_code by versioned_history with convert_currency). -#}
{% macro to_eur(amount) -%}
    round({{ amount }} * rate_to_eur, 2)
{%- endmacro %}


{#- The row's currency code: upper case, EUR where the source leaves it empty. -#}
{% macro currency_code(column) -%}
    coalesce(upper({{ column }}), 'EUR')
{%- endmacro %}


{#- Post-hook of a daily snapshot mart: delete its daily snapshots (not month ends) older than
    `days` days before the run's as_of_date. The history build and days=null keep everything. A
    backfill of an old date keeps that date until a later run prunes it. -#}
{% macro prune_daily_snapshots(days) -%}
    {%- if days is not none and not is_history_build() -%}
        delete from {{ this }}
        where
            as_of_date < (
                select max(as_of_date) - {{ days | int }}
                from {{ ref('int_snapshot_dates_selected') }}
            )
            and as_of_date
            != cast(date_trunc('month', as_of_date) + interval '1 month - 1 day' as date)
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{#- Post-hook of every model: fresh planner statistics for a table the run just (re)built or
    changed. Without them PostgreSQL guesses thousands of rows for the one-row snapshot-date table
    and plans the large joins for hundreds of millions of rows. Views have nothing to analyze. -#}
{% macro analyze_relation() -%}
    {%- if config.get('materialized') in ('table', 'incremental', 'snapshot') -%}
        analyze {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
