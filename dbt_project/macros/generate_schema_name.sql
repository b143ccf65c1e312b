{#- Models land in exactly the schema their folder names (staging, intermediate, marts,
    seeds), never in <target>_<custom> as dbt's default would do. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
