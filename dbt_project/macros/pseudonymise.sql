{#- Pseudonymous customer key: HMAC-SHA256 (RFC 2104) of the CRM account id, first 32 hex chars.
    The key never appears in SQL: common.dbt gives the dbt process the HMAC's padded inner and outer
    keys as the session settings crm.pseudonym_ipad / crm.pseudonym_opad (PGOPTIONS), and this macro
    reads them with current_setting. A session without them fails ("unrecognized configuration
    parameter"). Equal to common.pseudonym.pseudonymise for the same key. -#}
{% macro pseudonymise(column) -%}
    left(
        encode(
            sha256(
                decode(current_setting('crm.pseudonym_opad'), 'hex')
                || sha256(
                    decode(current_setting('crm.pseudonym_ipad'), 'hex')
                    || convert_to({{ column }}, 'UTF8')
                )
            ),
            'hex'
        ),
        32
    )
{%- endmacro %}
