{#- Helpers of customer_features, which joins every intermediate model to `accounts` (the active
    accounts of each snapshot date). -#}

{#- Join condition: the same account, and the relation's date column equal to the account's
    as_of_date, or to that date `months_back` months earlier (the inputs of trend features). -#}
{% macro same_account_and_date(relation, date_column='as_of_date', months_back=0) -%}
    accounts.account_id = {{ relation }}.account_id
    and {% if months_back -%}
        {{ months_before('accounts.as_of_date', months_back) }}
    {%- else -%}
        accounts.as_of_date
    {%- endif %} = {{ relation }}.{{ date_column }}
{%- endmacro %}


{#- numerator / denominator as a share rounded to 6 decimals; null when the denominator is 0. -#}
{% macro share(numerator, denominator) -%}
    round({{ numerator }}::numeric / nullif({{ denominator }}, 0), 6)
{%- endmacro %}
