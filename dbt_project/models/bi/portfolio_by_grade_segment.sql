-- The book on the latest rated date by grade and risk segment: customers, mean PD and the credit
-- limits granted and recommended. Exposure here is the limit exposure (what the customers may
-- draw); pd_weighted_limits is the part of it expected to default within 12 months if fully drawn.
with

rated_dates as (
    select * from {{ source('ratings', 'rated_dates') }}
),

customer_rating_versions as (
    select * from {{ source('ratings', 'customer_rating_versions') }}
),

rating_master_scale as (
    select * from {{ source('ratings', 'rating_master_scale') }}
),

risk_segments as (
    select * from {{ source('ratings', 'risk_segments') }}
),

latest as (
    select max(as_of_date) as as_of_date
    from rated_dates
),

rated as (
    select
        latest.as_of_date,
        v.rating_grade,
        v.risk_segment,
        v.pd_12m,
        v.current_credit_limit,
        v.recommended_credit_limit
    from latest
    inner join customer_rating_versions as v
        on daterange(v.valid_from_date, v.valid_to_date) @> latest.as_of_date
),

ranks as (
    select distinct on (grade)
        grade,
        grade_rank
    from rating_master_scale
    order by grade asc, published_at desc
)

select
    r.as_of_date,
    r.rating_grade,
    g.grade_rank,
    r.risk_segment,
    s.segment_rank,
    count(*) as customers,
    count(*)::double precision / sum(count(*)) over () as share_of_customers,
    avg(r.pd_12m) as avg_pd_12m,
    coalesce(sum(r.current_credit_limit), 0)::numeric(20, 2) as credit_limits_total,
    sum(r.recommended_credit_limit)::numeric(20, 2) as recommended_limits_total,
    coalesce(
        sum(greatest(r.current_credit_limit - r.recommended_credit_limit, 0)), 0
    )::numeric(20, 2) as limits_above_recommendation,
    coalesce(sum(r.pd_12m * r.current_credit_limit), 0)::double precision
        as pd_weighted_limits
from rated as r
left join ranks as g on r.rating_grade = g.grade
left join risk_segments as s
    on r.risk_segment = s.risk_segment
group by r.as_of_date, r.rating_grade, g.grade_rank, r.risk_segment, s.segment_rank
