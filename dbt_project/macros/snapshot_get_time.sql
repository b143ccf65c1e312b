{#- Snapshot bookkeeping times as timestamptz, the type of the sources' updated_at (dbt-postgres
    uses timestamp without time zone and then warns that the two differ). -#}
{% macro postgres__snapshot_get_time() -%}
    now()
{%- endmacro %}
