-- The BI contract of the ratings schema (docs/bi.md, docs/ratings.md; column names of ratings.* are a
-- public API) and the private staging area the scoring task fills before the quality gate.

-- Ratings are stored as versions, not as one full copy per day:
-- rated_dates: one row per rated date (the run that published it last).
-- customer_rating_versions: one row per customer and run of rated dates on which every rated value
--   stayed the same (valid_from_date inclusive, valid_to_date exclusive, 9999-12-31 while open). A
--   version holds on the rated dates in [valid_from_date, valid_to_date) and on no other: a customer
--   not rated on a date has no version covering that date. run_id and scored_at are not compared: a
--   version keeps the run that published its valid_from_date.
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
    reason_codes text [] not null default '{}',
    model_name text not null,
    model_version text not null,
    run_id text not null,
    scored_at timestamptz not null,
    primary key (customer_id, valid_from_date),
    check (valid_to_date > valid_from_date)
);
create index customer_rating_versions_validity_idx
    on ratings.customer_rating_versions using gist (daterange(valid_from_date, valid_to_date));

-- One row per warning episode: opened when a rule's condition starts, last_seen_date moved while it
-- holds, resolved (resolved_date = first rated date it no longer held) when it clears.
create table ratings.credit_warnings (
    warning_id bigint generated always as identity primary key,
    customer_id text not null,
    rule_code text not null,
    severity text not null check (severity in ('info', 'warning', 'critical')),
    metric_value double precision,
    threshold double precision,
    message text not null,
    first_seen_date date not null,
    last_seen_date date not null,
    status text not null check (status in ('open', 'resolved')),
    model_version text,
    resolved_date date,
    check (last_seen_date >= first_seen_date),
    check ((status = 'open') = (resolved_date is null)),
    unique (customer_id, rule_code, first_seen_date)
);
create unique index credit_warnings_one_open_episode
    on ratings.credit_warnings (customer_id, rule_code) where status = 'open';
create index credit_warnings_last_seen_idx on ratings.credit_warnings (last_seen_date);

-- The daily hits behind the episodes: one row per customer, rule and rated date the condition held.
-- Episodes are rebuilt from these rows, so a rerun or an out-of-order backfill stays consistent.
create table ratings.warning_observations (
    customer_id text not null,
    rule_code text not null,
    as_of_date date not null,
    severity text not null,
    metric_value double precision,
    threshold double precision,
    message text not null,
    model_version text,
    primary key (customer_id, rule_code, as_of_date)
);
create index warning_observations_date_idx on ratings.warning_observations (as_of_date);

create table ratings.rating_master_scale (
    grade text not null,
    grade_rank integer not null,
    pd_lower double precision not null,
    pd_upper double precision not null,
    pd_central double precision not null,
    description text not null,
    version text not null,
    is_default boolean not null default false,
    published_at timestamptz not null default now(),
    primary key (version, grade)
);

-- Risk segments and the review frequency each implies (config/segments.yml).
create table ratings.risk_segments (
    risk_segment text primary key,
    segment_rank integer not null,
    grades text [] not null,
    review_frequency_months integer not null check (review_frequency_months > 0),
    description text not null
);

-- One row per rated date (a rerun of the date replaces it).
create table ratings.model_monitoring (
    as_of_date date primary key,
    model_name text not null,
    model_version text not null,
    rows_scored bigint not null,
    grade_distribution jsonb not null,
    psi double precision,
    backtest jsonb,
    computed_at timestamptz not null default now(),
    run_id text,
    scale_version text
);

-- Staging: the scored rows of a run before the quality gate (one row per run and customer, the
-- columns of ratings.customer_ratings), and the warning hits of a run; never read by BI.
create table ratings_stage.customer_ratings (
    customer_id text not null,
    as_of_date date not null,
    pd_12m double precision not null,
    score integer not null,
    rating_grade text not null,
    risk_segment text not null,
    current_credit_limit numeric(18, 2),
    recommended_credit_limit numeric(18, 2) not null,
    decision text not null,
    decision_rationale text not null,
    reason_codes text [] not null default '{}',
    model_name text not null,
    model_version text not null,
    run_id text not null,
    scored_at timestamptz not null,
    constraint customer_ratings_stage_pkey primary key (run_id, customer_id)
);
create index stage_customer_ratings_as_of_date_idx on ratings_stage.customer_ratings (as_of_date);

create table ratings_stage.warning_observations (
    run_id text not null,
    like ratings.warning_observations
);
create index stage_warning_observations_run_idx on ratings_stage.warning_observations (run_id);

-- The views BI reads.

-- One row per customer and rated date (key customer_id, as_of_date): each rated date joined to the
-- versions holding on it. Written with @> so that `where as_of_date = X` reads the versions of X
-- through the GiST index, and with the bounds so that `where customer_id = ...` reads the customer's
-- versions by key, then its rated dates.
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

-- Open warning episodes, with the days each has been open.
create view ratings.open_credit_warnings as
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
