{#- The incremental build of the staging history models (stg_<source>__<entity>_history).

    A full refresh (the history build) derives every version from raw. A daily run recomputes, from
    all their raw rows, the versions of the keys that the raw batches loaded since its last run touch
    (keys_changed_since_last_run), and the strategy history_versions replaces those keys' versions:
    so the table equals a full refresh after any sequence of loads, reloads and wider loads. -#}

{#- The keys whose versions a daily run recomputes: the keys of the raw rows loaded since the last
    run (_extracted_at after the table's newest source_extracted_at, passed as a literal so that the
    index on raw is used; the loader stamps the batches of one table with the server's clock while it
    holds the table's lock, so in commit order), and the keys of versions that came from an interval
    those batches reload or cover (their raw rows may be gone). In a full refresh: nothing to read. -#}
{% macro keys_changed_since_last_run(raw_relation, key) -%}
    {%- set watermark = '-infinity' -%}
    {#- execute: false while dbt parses, and in the linter's templater (no database) -#}
    {%- if execute -%}
        {%- set watermark = run_query(
            "select coalesce(max(source_extracted_at), '-infinity')::text from " ~ this
        ).columns[0].values()[0] -%}
    {%- endif -%}
    with

    new_rows as (
        select
            {{ key }},
            _interval_start,
            _interval_end
        from {{ raw_relation }}
        where _extracted_at > timestamptz '{{ watermark }}'
    ),

    new_batches as (
        select distinct
            _interval_start,
            _interval_end
        from new_rows
    )

    select new_rows.{{ key }} from new_rows
    union
    select current_versions.{{ key }}
    from {{ this }} as current_versions
    inner join new_batches
        on
            current_versions.source_interval_start >= new_batches._interval_start
            and current_versions.source_interval_start < new_batches._interval_end
{%- endmacro %}


{#- Incremental strategy of the staging history models (incremental_strategy='history_versions'):
    delete every version of the keys in the new rows, then insert the new rows except the rows of
    keys left without any raw row (valid_from_date null). The key list is passed as an array, so
    PostgreSQL looks the few keys up by index instead of scanning the table. -#}
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
