-- The decisions of every rated date: customers per decision, their share of the day, and the
-- limits behind them. Reads the versions holding on each rated date (GiST index on validity).
with

rated_dates as (
    select * from {{ source('ratings', 'rated_dates') }}
),

customer_rating_versions as (
    select * from {{ source('ratings', 'customer_rating_versions') }}
)

select
    d.as_of_date,
    v.decision,
    count(*) as customers,
    count(*)::double precision
    / sum(count(*)) over (partition by d.as_of_date) as share_of_customers,
    coalesce(sum(v.current_credit_limit), 0)::numeric(20, 2)
        as credit_limits_total,
    sum(v.recommended_credit_limit)::numeric(20, 2)
        as recommended_limits_total
from rated_dates as d
inner join customer_rating_versions as v
    on daterange(v.valid_from_date, v.valid_to_date) @> d.as_of_date
group by d.as_of_date, v.decision
