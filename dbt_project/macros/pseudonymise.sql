{#- Pseudonymous customer key: a keyed SHA-256 of the CRM account id, salted with the var
    pseudonym_salt or the PSEUDONYM_SALT environment variable (a fixed value for development).
    The same account gets the same key in every run as long as the salt does not change. -#}
{% macro pseudonym_salt() -%}
    {{- return(var('pseudonym_salt', env_var('PSEUDONYM_SALT', 'dev-only-pseudonym-salt'))) -}}
{%- endmacro %}


{% macro pseudonymise(column) -%}
    left(
        encode(
            sha256(
                convert_to(
                    '{{ pseudonym_salt() | replace("'", "''") }}' || ':' || {{ column }},
                    'UTF8'
                )
            ),
            'hex'
        ),
        32
    )
{%- endmacro %}
