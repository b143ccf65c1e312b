{#- The credit-event re-rating (pipeline.events) builds the features of a few accounts only: with
    var rerate, the intermediate models read the history of the accounts in events.rerate_accounts,
    and customer_features writes marts.customer_features_rerated instead of the daily snapshot. The
    feature SQL is the same in both runs. -#}

{% macro is_rerate() -%}
    {{ return(var('rerate', false) in (true, 'true', 'True', 1, '1')) }}
{%- endmacro %}


{#- The where clause (or, with keyword='and', the condition added to one) that keeps the re-rated
    accounts' rows of a history relation; nothing in a daily or history build. -#}
{% macro rerated_accounts_only(column='account_id', keyword='where') -%}
    {%- if is_rerate() -%}
        {{ keyword }} {{ column }} in (select account_id from events.rerate_accounts)
    {%- endif -%}
{%- endmacro %}
