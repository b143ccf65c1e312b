-- Credit-desk limit overrides by grade of the latest ratings (docs/desk.md): a high rate at a grade
-- says analysts often disagree with the model there.
with

limit_overrides as (
    select * from {{ source('desk', 'limit_overrides') }}
),

current_customer_ratings as (
    select * from {{ ref('current_customer_ratings') }}
),

active as (
    select distinct o.customer_id
    from limit_overrides as o
    where
        o.status = 'active'
        and o.valid_from <= current_date
        and o.expires_on > current_date
),

overrides_ever as (
    select
        o.rating_grade,
        count(*) as overrides_decided
    from limit_overrides as o
    where o.status = 'active'
    group by o.rating_grade
)

select
    r.rating_grade,
    count(*) as customers,
    count(a.customer_id) as customers_with_active_override,
    count(a.customer_id)::double precision / count(*) as override_rate,
    coalesce(max(e.overrides_decided), 0) as overrides_approved_total
from current_customer_ratings as r
left join active as a on r.customer_id = a.customer_id
left join overrides_ever as e on r.rating_grade = e.rating_grade
group by r.rating_grade
