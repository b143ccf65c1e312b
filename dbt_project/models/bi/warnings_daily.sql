-- Warning episodes per rated date, rule and severity: how many opened that day, how many were
-- resolved that day, and how many held at the end of it.
with

credit_warnings as (
    select * from {{ source('ratings', 'credit_warnings') }}
),

rated_dates as (
    select * from {{ source('ratings', 'rated_dates') }}
),

episodes as (
    select
        rule_code,
        severity,
        first_seen_date,
        resolved_date
    from credit_warnings
)

select
    d.as_of_date,
    e.rule_code,
    e.severity,
    count(*) filter (where e.first_seen_date = d.as_of_date) as warnings_opened,
    count(*) filter (where e.resolved_date = d.as_of_date) as warnings_resolved,
    count(*) filter (
        where e.resolved_date is null or e.resolved_date > d.as_of_date
    ) as warnings_open
from rated_dates as d
inner join episodes as e
    on
        d.as_of_date >= e.first_seen_date
        and (e.resolved_date is null or d.as_of_date <= e.resolved_date)
group by d.as_of_date, e.rule_code, e.severity
