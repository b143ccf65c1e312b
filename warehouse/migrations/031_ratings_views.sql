-- Views for BI over the ratings schema (documented in docs/bi.md).

-- Latest rating per customer, with the review cycle its segment implies.
create or replace view ratings.current_customer_ratings as
select
    r.customer_id,
    r.as_of_date,
    r.pd_12m,
    r.score,
    r.rating_grade,
    r.risk_segment,
    r.current_credit_limit,
    r.recommended_credit_limit,
    r.decision,
    r.decision_rationale,
    r.reason_codes,
    r.model_name,
    r.model_version,
    r.run_id,
    r.scored_at,
    s.review_frequency_months,
    (r.as_of_date + make_interval(months => s.review_frequency_months))::date as next_review_date
from (
    select distinct on (customer_id) *
    from ratings.customer_ratings
    order by customer_id, as_of_date desc
) as r
left join ratings.risk_segments as s on s.risk_segment = r.risk_segment;

create or replace view ratings.open_credit_warnings as
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
    (w.last_seen_date - w.first_seen_date) + 1 as days_open
from ratings.credit_warnings as w
where w.status = 'open';

-- Month-over-month grade migration: each customer's rating on the last rated date of a month against
-- the last rated date of the month before. Rows = (month, from_grade, to_grade).
create or replace view ratings.grade_migration_monthly as
with month_ends as (
    select date_trunc('month', as_of_date)::date as month, max(as_of_date) as as_of_date
    from ratings.model_monitoring
    group by 1
),
snapshots as (
    select m.month, r.customer_id, r.rating_grade
    from month_ends as m
    inner join ratings.customer_ratings as r on r.as_of_date = m.as_of_date
),
ranks as (
    select distinct on (grade) grade, grade_rank
    from ratings.rating_master_scale
    order by grade, published_at desc
),
moves as (
    select
        cur.month,
        prev.rating_grade as from_grade,
        cur.rating_grade as to_grade,
        count(*) as customers
    from snapshots as cur
    inner join snapshots as prev
        on prev.customer_id = cur.customer_id
        and prev.month = (cur.month - interval '1 month')::date
    group by 1, 2, 3
)
select
    mv.month,
    mv.from_grade,
    mv.to_grade,
    fr.grade_rank as from_rank,
    tr.grade_rank as to_rank,
    tr.grade_rank - fr.grade_rank as notches_down,
    mv.customers,
    mv.customers::double precision / sum(mv.customers) over (partition by mv.month, mv.from_grade)
        as share_of_from_grade
from moves as mv
left join ranks as fr on fr.grade = mv.from_grade
left join ranks as tr on tr.grade = mv.to_grade;
