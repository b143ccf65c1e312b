-- Ratings history stored as versions instead of one full copy per day (docs/bi.md, docs/ratings.md).
--
-- ratings.rated_dates: one row per rated date (the run that published it last).
-- ratings.customer_rating_versions: one row per customer and run of rated dates on which every rated
--   value stayed the same (SCD2: valid_from_date inclusive, valid_to_date exclusive, 9999-12-31 while
--   open). A customer's version holds on the rated dates in [valid_from_date, valid_to_date) and on no
--   other: a customer not rated on a date has no version covering that date. run_id and scored_at are
--   not compared: a version keeps the run that published its valid_from_date.
-- ratings.customer_ratings: the same columns as the table it replaces, now a view expanding the
--   versions over the rated dates (one row per customer_id and as_of_date, as before).
--
-- An existing customer_ratings table is converted without losing a row, then dropped.

create table ratings.rated_dates (
    as_of_date date primary key,
    run_id text not null,
    scored_at timestamptz not null,
    model_name text not null,
    model_version text not null,
    rows_published bigint not null check (rows_published >= 0),
    published_at timestamptz not null default now()
);

create table ratings.customer_rating_versions (
    customer_id text not null,
    valid_from_date date not null,
    valid_to_date date not null default '9999-12-31',
    pd_12m double precision not null check (pd_12m >= 0 and pd_12m <= 1),
    score integer not null,
    rating_grade text not null,
    risk_segment text not null,
    current_credit_limit numeric(18, 2),
    recommended_credit_limit numeric(18, 2) not null check (recommended_credit_limit >= 0),
    decision text not null check (decision in ('approve', 'review', 'reduce', 'hold')),
    decision_rationale text not null,
    reason_codes text[] not null default '{}',
    model_name text not null,
    model_version text not null,
    run_id text not null,
    scored_at timestamptz not null,
    primary key (customer_id, valid_from_date),
    check (valid_to_date > valid_from_date)
);

-- 1. The existing rows, by rated date (one run per date; the latest scored_at if ever mixed).
alter table ratings.customer_ratings rename to customer_ratings_before_050;

insert into ratings.rated_dates (
    as_of_date, run_id, scored_at, model_name, model_version, rows_published,
    published_at
)
select
    as_of_date,
    max(run_id),
    max(scored_at),
    max(model_name),
    max(model_version),
    count(*),
    max(scored_at)
from ratings.customer_ratings_before_050
group by as_of_date;

-- 2. Versions: a customer's row opens a version when any rated value differs from its row on the
--    previous rated date, or when it was not rated on the previous rated date; the version ends at the
--    rated date after the last row of that run (9999-12-31 after the latest rated date).
insert into ratings.customer_rating_versions (
    customer_id, valid_from_date, valid_to_date, pd_12m, score, rating_grade, risk_segment,
    current_credit_limit,
    recommended_credit_limit,
    decision,
    decision_rationale,
    reason_codes,
    model_name,
    model_version, run_id, scored_at
)
with dates as (
    select
        as_of_date,
        row_number() over (order by as_of_date) as k,
        coalesce(lead(as_of_date) over (order by as_of_date), '9999-12-31'::date) as next_date
    from ratings.rated_dates
),

marked as (
    select
        r.*,
        d.next_date,
        coalesce(
            lag(d.k) over w <> d.k - 1
            or (
                r.pd_12m, r.score, r.rating_grade, r.risk_segment, r.current_credit_limit,
                r.recommended_credit_limit, r.decision, r.decision_rationale, r.reason_codes,
                r.model_name, r.model_version
            ) is distinct from (
                lag(r.pd_12m) over w, lag(r.score) over w, lag(r.rating_grade) over w,
                lag(r.risk_segment) over w, lag(r.current_credit_limit) over w,
                lag(r.recommended_credit_limit) over w, lag(r.decision) over w,
                lag(r.decision_rationale) over w,
                lag(r.reason_codes) over w,
                lag(r.model_name) over w,
                lag(r.model_version) over w
            ),
            true
        ) as starts
    from ratings.customer_ratings_before_050 as r
    inner join dates as d on r.as_of_date = d.as_of_date
    window w as (partition by r.customer_id order by r.as_of_date)
),

edges as (
    -- the first and the last row of every run
    select *
    from (
        select
            marked.*,
            coalesce(lead(marked.starts) over w, true) as ends
        from marked
        window w as (partition by customer_id order by as_of_date)
    ) as b
    where starts or ends
),

versions as (
    select
        edges.*,
        case when edges.ends then edges.next_date else lead(edges.next_date) over w end
            as valid_to_date
    from edges
    window w as (partition by customer_id order by as_of_date)
)

select
    customer_id,
    as_of_date,
    valid_to_date,
    pd_12m,
    score,
    rating_grade,
    risk_segment,
    current_credit_limit,
    recommended_credit_limit,
    decision,
    decision_rationale,
    reason_codes,
    model_name,
    model_version,
    run_id,
    scored_at
from versions
where starts;

-- 3. Nothing lost: every rated date keeps its number of rows (a version counts +1 from its first rated
--    date on and -1 from its end on: a running sum over the rated dates, without expanding them).
do $$
declare
    lost bigint;
begin
    with steps as (
        select valid_from_date as as_of_date, count(*) as n
        from ratings.customer_rating_versions
        group by valid_from_date
        union all
        select valid_to_date, -count(*)
        from ratings.customer_rating_versions
        group by valid_to_date
    ),

    new as (
        select
            d.as_of_date,
            sum(coalesce(s.n, 0)) over (order by d.as_of_date) as n
        from ratings.rated_dates as d
        left join (select as_of_date, sum(n) as n from steps group by as_of_date) as s
            on d.as_of_date = s.as_of_date
    ),

    old as (
        select as_of_date, count(*) as n
        from ratings.customer_ratings_before_050
        group by as_of_date
    )

    select count(*) into lost
    from old
    full join new on old.as_of_date = new.as_of_date
    where old.n is distinct from new.n;
    if lost > 0 then
        raise exception 'customer_ratings conversion: % rated date(s) would change their row count', lost;
    end if;
end
$$;

create index customer_rating_versions_validity_idx
    on ratings.customer_rating_versions using gist (daterange(valid_from_date, valid_to_date));

drop view ratings.current_customer_ratings;
drop view ratings.grade_migration_monthly;
drop table ratings.customer_ratings_before_050;
analyze ratings.rated_dates;
analyze ratings.customer_rating_versions;

-- 4. The views BI reads, same columns as before.

-- One row per customer and rated date: each rated date joined to the versions holding on it. Written
-- with @> so that `where as_of_date = X` reads the versions of X through the GiST index, and with the
-- bounds so that `where customer_id = ...` reads the customer's versions by key, then its rated dates.
create view ratings.customer_ratings as
select
    v.customer_id,
    d.as_of_date,
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
    v.scored_at
from ratings.rated_dates as d
inner join ratings.customer_rating_versions as v
    on
        daterange(v.valid_from_date, v.valid_to_date) @> d.as_of_date
        and d.as_of_date >= v.valid_from_date
        and d.as_of_date < v.valid_to_date;

comment on view ratings.customer_ratings is
'One row per customer and rated date (key customer_id, as_of_date), the versions expanded over the rated dates.';

-- Latest rating per customer, with the review cycle its segment implies: each customer's last version,
-- dated on the last rated date it holds on (the latest rated date while it is open). Read from the
-- versions directly (a backward scan of their key), not by expanding every rated date.
create view ratings.current_customer_ratings as
with latest as (select max(as_of_date) as as_of_date from ratings.rated_dates)

select
    v.customer_id,
    r.as_of_date,
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
    (r.as_of_date + make_interval(months => s.review_frequency_months))::date as next_review_date
from (
    select distinct on (customer_id) *
    from ratings.customer_rating_versions
    order by customer_id desc, valid_from_date desc
) as v
cross join latest
cross join
    lateral (
        select
            case
                when v.valid_to_date > latest.as_of_date then latest.as_of_date
                else
                    (
                        select max(d.as_of_date) from ratings.rated_dates as d
                        where d.as_of_date < v.valid_to_date
                    )
            end as as_of_date
    ) as r
left join ratings.risk_segments as s on v.risk_segment = s.risk_segment;

-- Month-over-month grade migration: each customer's rating on the last rated date of a month against
-- the last rated date of the month before. Rows = (month, from_grade, to_grade). Reads the versions
-- holding on each month-end date directly.
create view ratings.grade_migration_monthly as
with month_ends as (
    select
        date_trunc('month', as_of_date)::date as month,
        max(as_of_date) as as_of_date
    from ratings.rated_dates
    group by 1
),

snapshots as (
    select
        m.month,
        v.customer_id,
        v.rating_grade
    from month_ends as m
    inner join ratings.customer_rating_versions as v
        on daterange(v.valid_from_date, v.valid_to_date) @> m.as_of_date
),

ranks as (
    select distinct on (grade)
        grade,
        grade_rank
    from ratings.rating_master_scale
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
left join ranks as fr on mv.from_grade = fr.grade
left join ranks as tr on mv.to_grade = tr.grade;

-- 5. Grants as for every ratings relation (032): BI reads; the pipeline writes the tables, reads the views.
grant select on ratings.rated_dates, ratings.customer_rating_versions to bi_reader;
grant select on ratings.customer_ratings, ratings.current_customer_ratings to bi_reader;
grant select on ratings.grade_migration_monthly to bi_reader;
grant select, insert, update, delete on ratings.rated_dates to pipeline_writer;
grant select, insert, update, delete on ratings.customer_rating_versions to pipeline_writer;
grant select on ratings.customer_ratings, ratings.current_customer_ratings to pipeline_writer;
grant select on ratings.grade_migration_monthly to pipeline_writer;
revoke insert, update, delete, truncate, references, trigger
on ratings.customer_ratings, ratings.current_customer_ratings, ratings.grade_migration_monthly
from pipeline_writer;
