{#- Intermediate models that reduce a staging history model to one row per account and date,
    point in time (macro known_at). The history model's rows are available as the CTE
    <entity>_history (the model name without its stg_<source>__ prefix). -#}

{#- Count and amount (amount_eur) per account and snapshot date of the rows whose event_date lies
    in the last `months` months, (D - months, D]. where: an optional filter on the history row. -#}
{% macro account_totals_in_window(
    history_model, event_date, months, count_as, amount_as, where=none
) -%}
    {%- set history = history_model.split('__')[-1] -%}
    with

    snapshot_dates as (
        select * from {{ ref('int_snapshot_dates_selected') }}
    ),

    {{ history }} as (
        select * from {{ ref(history_model) }}{% if where %} where {{ where }}{% endif %}
    )

    select
        snapshot_dates.as_of_date,
        {{ history }}.account_id,
        count(*) as {{ count_as }},
        sum({{ history }}.amount_eur) as {{ amount_as }}
    from snapshot_dates
    inner join {{ history }}
        on
            {{ known_at(history, 'snapshot_dates.as_of_date') }}
            and {{ in_months_window(
                history ~ '.' ~ event_date, 'snapshot_dates.as_of_date', months
            ) }}
    group by snapshot_dates.as_of_date, {{ history }}.account_id
{%- endmacro %}


{#- Per account and evaluation date (the snapshot dates and the same dates `lags` months earlier):
    the known row with the latest effective_date on or before the date, ties broken by the latest
    created_at, then the highest key. columns: the row's columns to keep ("column" or
    "column as name"). where: an optional filter on the history row. -#}
{% macro latest_effective_per_account(
    history_model, effective_date, key, columns, lags, where=none
) -%}
    {%- set history = history_model.split('__')[-1] -%}
    with

    evaluation_dates as (
        {{ evaluation_dates(lags) }}
    ),

    {{ history }} as (
        select * from {{ ref(history_model) }}{% if where %} where {{ where }}{% endif %}
    )

    select distinct on (evaluation_dates.evaluation_date, {{ history }}.account_id)
        evaluation_dates.evaluation_date,
        {{ history }}.account_id,
        {{ history }}.{{ columns | join(',\n        ' ~ history ~ '.') }}
    from evaluation_dates
    inner join {{ history }}
        on
            {{ known_at(history, 'evaluation_dates.evaluation_date') }}
            and {{ history }}.{{ effective_date }} <= evaluation_dates.evaluation_date
    order by
        evaluation_dates.evaluation_date asc,
        {{ history }}.account_id asc,
        {{ history }}.{{ effective_date }} desc,
        {{ history }}.created_at desc,
        {{ history }}.{{ key }} desc
{%- endmacro %}
