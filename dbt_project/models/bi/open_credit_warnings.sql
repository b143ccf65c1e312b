-- Open warning episodes, with the days each has been open.
with

credit_warnings as (
    select * from {{ source('ratings', 'credit_warnings') }}
)

select
    w.warning_id,
    w.customer_id,
    w.rule_code,
    w.severity,
    w.metric_value,
    w.threshold,
    w.message,
    w.first_seen_date,
    w.last_seen_date,
    w.status,
    w.model_version,
    (w.last_seen_date - w.first_seen_date) + 1 as days_open,
    w.rating_kind
from credit_warnings as w
where w.status = 'open'
