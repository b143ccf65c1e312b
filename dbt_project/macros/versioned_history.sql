{#- Staging history models (stg_<source>__<entity>_history) and their latest-version siblings
    (stg_<source>__<table>). Every history model has the same shape: the source's own columns
    (typed and renamed), then known_since_date, created_at, updated_at, valid_from_date and
    valid_to_date; the latest-version model is the open-ended version of each row. -#}

{#- valid_to_date of a row's latest version: open-ended. -#}
{% macro open_ended_date() -%}
    date '9999-12-31'
{%- endmacro %}


{#- One version per key and UTC day of updated_at from source(source_name, table_name), as an
    incremental table. columns: the entity's columns in output order, {output name: SQL over the
    source row}, for example {'account_id': 'customer_id', 'status': 'lower(status)'}.
    convert_currency: join the fx_rates seed on the row's currency (EUR where empty), so that the
    column expressions can use rate_to_eur (macro to_eur).

    A full refresh (the history build) derives every version from raw. An incremental run (the
    daily build) reads only the raw batches loaded since the last run (_extracted_at after the
    table's newest source_extracted_at, passed as a literal so that the index on raw is used;
    the loader stamps the batches of one table with the server's clock while it holds the table's
    lock, so in commit order) and recomputes the versions of the keys they touch: the keys of
    their rows, and the keys of versions that came from an interval those batches reload or cover.
    A recomputed key's versions are its kept versions (from other batches) plus the new rows,
    ranked again per day, so the table equals a full refresh after any sequence of loads, reloads
    and replacements. A key left with no row at all gets a placeholder row (valid_from_date null):
    the strategy history_versions deletes the key's versions and inserts only real rows. -#}
{% macro versioned_history(source_name, table_name, key, columns, convert_currency=false) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='history_versions',
        unique_key=key,
        on_schema_change='fail',
        indexes=[
            {'columns': [key]},
            {'columns': ['source_extracted_at']},
            {'columns': ['source_interval_start']},
        ],
    ) }}
    {%- set renamed_columns = [] -%}
    {%- for name, expression in columns.items() -%}
        {%- do renamed_columns.append(
            expression if expression == name else expression ~ ' as ' ~ name
        ) -%}
    {%- endfor -%}
    {%- set since_last_run = '' -%}
    {#- execute: false while dbt parses, and in the linter's templater (no database) -#}
    {%- if is_incremental() and execute -%}
        {%- set watermark = run_query(
            "select coalesce(max(source_extracted_at), '-infinity')::text from " ~ this
        ).columns[0].values()[0] -%}
        {%- set since_last_run = " where _extracted_at > timestamptz '" ~ watermark ~ "'" -%}
    {%- endif -%}
    with

    source as (
        select * from {{ source(source_name, table_name) }}{{ since_last_run }}
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
    new_rows as (
        select
            {{ renamed_columns | join(',\n            ') }},
            created_at,
            updated_at,
            _extracted_at as extracted_at,
            {{ utc_date('coalesce(created_at, updated_at)') }} as known_since_date,
            _batch_id as source_batch_id,
            _interval_start as source_interval_start
        from {{ 'source_in_eur' if convert_currency else 'source' }}
    ),

    {% if is_incremental() -%}
    new_batches as (
        select distinct
            source._interval_start,
            source._interval_end
        from source
    ),

    -- versions that came from an interval the new batches reload or cover
    replaced as (
        select current_versions.{{ key }}
        from {{ this }} as current_versions
        inner join new_batches
            on
                current_versions.source_interval_start >= new_batches._interval_start
                and current_versions.source_interval_start < new_batches._interval_end
    ),

    affected_keys as (
        select {{ key }} from new_rows
        union
        select {{ key }} from replaced
    ),

    kept_rows as (
        select
            {{ columns.keys() | join(',\n            ') }},
            created_at,
            updated_at,
            source_extracted_at as extracted_at,
            known_since_date,
            source_batch_id,
            source_interval_start
        from {{ this }} as current_versions
        where
            {{ key }} = any(array(select affected_keys.{{ key }} from affected_keys))
            and not exists (
                select 1
                from new_batches
                where
                    current_versions.source_interval_start >= new_batches._interval_start
                    and current_versions.source_interval_start < new_batches._interval_end
            )
    ),

    renamed as (
        select * from new_rows
        union all
        select * from kept_rows
    ),

    {% else -%}
    renamed as (
        select * from new_rows
    ),

    {% endif -%}
    {{ day_end_versions('renamed', key) }}

    select
        {{ columns.keys() | join(',\n        ') }},
        known_since_date,
        created_at,
        updated_at,
        valid_from_date,
        valid_to_date,
        extracted_at as source_extracted_at,
        source_batch_id,
        source_interval_start
    from versions
    {% if is_incremental() -%}
    union all

    -- a key with no row left (its only batch was reloaded without it): a placeholder (one of its
    -- current versions, typed like the table, without valid_from_date) makes history_versions
    -- delete its versions; the placeholder itself is not inserted
    select distinct on (current_versions.{{ key }})
        {%- for name in columns.keys() %}
        current_versions.{{ name }},
        {%- endfor %}
        current_versions.known_since_date,
        current_versions.created_at,
        current_versions.updated_at,
        cast(null as date) as valid_from_date,
        current_versions.valid_to_date,
        current_versions.source_extracted_at,
        current_versions.source_batch_id,
        current_versions.source_interval_start
    from {{ this }} as current_versions
    where
        current_versions.{{ key }} = any(array(select affected_keys.{{ key }} from affected_keys))
        and not exists (
            select 1 from renamed
            where renamed.{{ key }} = current_versions.{{ key }}
        )
    {%- endif %}
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


{#- Incremental strategy of the staging history models (incremental_strategy='history_versions'):
    delete every version of the keys in the new rows, then insert the new rows except the
    placeholders (valid_from_date null) of keys left without any row. The key list is passed as an
    array, so PostgreSQL looks the few keys up by index instead of scanning the table. -#}
{% macro get_incremental_history_versions_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set new_rows = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ key }} = any(array(select distinct {{ key }} from {{ new_rows }}));

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ new_rows }}
    where valid_from_date is not null
{%- endmacro %}
