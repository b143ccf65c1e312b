-- Month-over-month grade migration: each customer's rating on the last rated date of a month
-- against the last rated date of the month before. Rows = (month, from_grade, to_grade). Reads the
-- versions holding on each month-end date directly.
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

month_ends as (
    select
        date_trunc('month', as_of_date)::date as month,
        max(as_of_date) as as_of_date
    from rated_dates
    group by date_trunc('month', as_of_date)
),

snapshots as (
    select
        m.month,
        v.customer_id,
        v.rating_grade
    from month_ends as m
    inner join customer_rating_versions as v
        on daterange(v.valid_from_date, v.valid_to_date) @> m.as_of_date
),

ranks as (
    select distinct on (grade)
        grade,
        grade_rank
    from rating_master_scale
    order by grade asc, published_at desc
),

moves as (
    select
        cur.month,
        prev.rating_grade as from_grade,
        cur.rating_grade as to_grade,
        count(*) as customers
    from snapshots as cur
    inner join snapshots as prev
        on
            cur.customer_id = prev.customer_id
            and prev.month = (cur.month - interval '1 month')::date
    group by cur.month, prev.rating_grade, cur.rating_grade
)

select
    mv.month,
    mv.from_grade,
    mv.to_grade,
    fr.grade_rank as from_rank,
    tr.grade_rank as to_rank,
    tr.grade_rank - fr.grade_rank as notches_down,
    mv.customers,
    mv.customers::double precision
    / sum(mv.customers) over (partition by mv.month, mv.from_grade)
        as share_of_from_grade
from moves as mv
left join ranks as fr on mv.from_grade = fr.grade
left join ranks as tr on mv.to_grade = tr.grade
