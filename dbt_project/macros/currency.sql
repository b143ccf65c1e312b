{#- Amounts in the base currency (EUR): the staging models that carry an amount join the fx_rates
    seed on the row's currency code and convert with its rate_to_eur. -#}

{#- The row's currency code: upper case, EUR where the source leaves it empty. -#}
{% macro currency_code(column) -%}
    coalesce(upper({{ column }}), 'EUR')
{%- endmacro %}


{#- An amount in EUR, rounded to cents, with the joined fx_rates.rate_to_eur. -#}
{% macro to_eur(amount) -%}
    round({{ amount }} * fx_rates.rate_to_eur, 2)
{%- endmacro %}
