-- Latest rating per customer, with the review cycle its segment implies and the texts of its reason
-- codes: each customer's last version, dated on the last rated date it holds on (the latest rated
-- date while it is open). Reads the versions directly (a backward scan of their key), not by
-- expanding every rated date.
with

rated_dates as (
    select * from {{ source('ratings', 'rated_dates') }}
),

customer_rating_versions as (
    select * from {{ source('ratings', 'customer_rating_versions') }}
),

reason_codes as (
    select * from {{ source('ratings', 'reason_codes') }}
),

risk_segments as (
    select * from {{ source('ratings', 'risk_segments') }}
),

latest as (
    select max(as_of_date) as as_of_date
    from rated_dates
),

last_versions as (
    select distinct on (customer_id) *
    from customer_rating_versions
    order by customer_id desc, valid_from_date desc
),

-- the last rated date each last version holds on; an intraday version (a credit event's
-- re-rating after the last daily run, docs/events.md) is dated on its own date
dated as (
    select
        v.*,
        case
            when v.rating_kind = 'intraday' then v.valid_from_date
            when v.valid_to_date > latest.as_of_date then latest.as_of_date
            else
                (
                    select max(d.as_of_date)
                    from rated_dates as d
                    where d.as_of_date < v.valid_to_date
                )
        end as rated_as_of_date
    from last_versions as v
    cross join latest
)

select
    v.customer_id,
    v.rated_as_of_date as as_of_date,
    v.pd_12m,
    v.score,
    v.rating_grade,
    v.risk_segment,
    v.current_credit_limit,
    v.recommended_credit_limit,
    v.decision,
    v.decision_rationale,
    v.reason_codes,
    v.model_name,
    v.model_version,
    v.run_id,
    v.scored_at,
    s.review_frequency_months,
    (v.rated_as_of_date + make_interval(months => s.review_frequency_months))::date
        as next_review_date,
    array(
        select coalesce(rc.reason_text, u.code)
        from unnest(v.reason_codes) with ordinality as u (code, n)
        left join reason_codes as rc
            on u.code = rc.reason_code
        order by u.n
    ) as reason_texts,
    v.rating_kind
from dated as v
left join risk_segments as s
    on v.risk_segment = s.risk_segment
