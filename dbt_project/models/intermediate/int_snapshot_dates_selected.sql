-- The snapshot dates this run builds: as_of_date alone (daily run), or every month end from the
-- first month with data up to as_of_date plus the last `recent_days` days (history build).
with

bounds as (
    select * from {{ ref('int_data_bounds_computed') }}
),

run_date as (
    select
        {%- if var('as_of_date') %}
            cast('{{ var("as_of_date") }}' as date) as as_of_date,
        {%- else %}
            bounds.last_data_date as as_of_date,
        {%- endif %}
        {%- if var('history_start_date') %}
            cast('{{ var("history_start_date") }}' as date) as history_start_date
        {%- else %}
            bounds.first_invoice_date as history_start_date
        {%- endif %}
    from bounds
),

{% if is_history_build() %}
    month_ends as (
        select
            cast(
                months.month_start + interval '1 month' - interval '1 day'
                as date
            ) as as_of_date
        from run_date
        cross join lateral generate_series(
            date_trunc('month', cast(run_date.history_start_date as timestamp)),
            cast(run_date.as_of_date as timestamp),
            interval '1 month'
        ) as months (month_start)
    ),

    recent_days as (
        select cast(days.recent_day as date) as as_of_date
        from run_date
        cross join lateral generate_series(
            cast(
                run_date.as_of_date - {{ var('recent_days') | int - 1 }}
                as timestamp
            ),
            cast(run_date.as_of_date as timestamp),
            interval '1 day'
        ) as days (recent_day)
    ),

    selected as (
        select month_ends.as_of_date
        from month_ends
        cross join run_date
        where month_ends.as_of_date <= run_date.as_of_date
        union
        select recent_days.as_of_date from recent_days
    )
{% else %}
    selected as (
        select as_of_date from run_date
    )
{% endif %}

select as_of_date
from selected
where as_of_date is not null
