{#- Point-in-time snippets. Every history model (stg_*_history) carries one row per source row and
    day on which it changed: valid_from_date <= D < valid_to_date selects the version that stood at
    the end of day D (UTC), known_since_date is the day the row entered the source (created_at). -#}

{% macro utc_date(column) -%}
    cast(({{ column }} at time zone 'UTC') as date)
{%- endmacro %}


{#- valid_to_date of a row's latest version: open-ended. -#}
{% macro open_ended_date() -%}
    date '9999-12-31'
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
