{#- Staging history models (stg_<source>__<entity>_history) and their latest-version siblings
    (stg_<source>__<table>). Every history model has the same shape: the source's own columns
    (typed and renamed), then known_since_date, created_at, updated_at, valid_from_date and
    valid_to_date; the latest-version model is the open-ended version of each row. -#}

{#- valid_to_date of a row's latest version: open-ended. -#}
{% macro open_ended_date() -%}
    date '9999-12-31'
{%- endmacro %}


{#- One version per key and UTC day of updated_at from source(source_name, table_name).
    columns: the entity's columns in output order, {output name: SQL over the source row}, for
    example {'account_id': 'customer_id', 'status': 'lower(status)'}.
    convert_currency: join the fx_rates seed on the row's currency (EUR where empty), so that the
    column expressions can use rate_to_eur (macro to_eur). -#}
{% macro versioned_history(source_name, table_name, key, columns, convert_currency=false) -%}
    {%- set renamed_columns = [] -%}
    {%- for name, expression in columns.items() -%}
        {%- do renamed_columns.append(
            expression if expression == name else expression ~ ' as ' ~ name
        ) -%}
    {%- endfor -%}
    with

    source as (
        select * from {{ source(source_name, table_name) }}
    ),

    {% if convert_currency -%}
    fx_rates as (
        select * from {{ ref('fx_rates') }}
    ),

    source_in_eur as (
        select
            source.*,
            fx_rates.rate_to_eur
        from source
        left join fx_rates
            on {{ currency_code('source.currency') }} = fx_rates.currency
    ),

    {% endif -%}
    renamed as (
        select
            {{ renamed_columns | join(',\n            ') }},
            created_at,
            updated_at,
            _extracted_at as extracted_at,
            {{ utc_date('coalesce(created_at, updated_at)') }} as known_since_date
        from {{ 'source_in_eur' if convert_currency else 'source' }}
    ),

    {{ day_end_versions('renamed', key) }}

    select
        {{ columns | join(',\n        ') }},
        known_since_date,
        created_at,
        updated_at,
        valid_from_date,
        valid_to_date
    from versions
{%- endmacro %}


{#- The latest version of each row of a history model: its open-ended version, with the day of
    its last change. columns: the entity's columns of the history model, in output order. -#}
{% macro latest_from_history(history_model, columns) -%}
    select
        {{ columns | join(',\n        ') }},
        created_at,
        updated_at,
        valid_from_date as last_changed_date
    from {{ ref(history_model) }}
    where valid_to_date = {{ open_ended_date() }}
{%- endmacro %}
