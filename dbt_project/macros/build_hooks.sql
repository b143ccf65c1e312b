{#- A daily snapshot or the whole history, and the hooks that run after a model. -#}

{#- true when the run rebuilds the whole history rather than one snapshot date. -#}
{% macro is_history_build() -%}
    {{ return(var('history', false) in (true, 'true', 'True', 1, '1') or flags.FULL_REFRESH) }}
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
    {%- if config.get('materialized') in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{#- Post-hook of a BI view: the migrating role's default privileges in ratings give pipeline_writer
    write rights on every new relation there; a view is read-only for it (as the tables behind it
    are written directly). dbt's grants then give select to the roles the bi folder names. -#}
{% macro revoke_view_writes() -%}
    revoke insert, update, delete, truncate, references, trigger on {{ this }} from pipeline_writer
{%- endmacro %}
