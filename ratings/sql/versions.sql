-- Ratings as versions: publishing the staged rows of one run as the ratings of rated date D.
--
-- A customer's version [valid_from_date, valid_to_date) holds on every rated date in that range; the
-- versions of a customer never overlap, start on a rated date and end on the rated date where the
-- rating changes or the customer is not rated (9999-12-31 while it holds on the latest rated date).
-- Adjacent versions always differ (minimal). Publishing D is an interval-map update at D: for the
-- customers whose rating at D changes (new, gone, or a rated value differs), split the version covering
-- D into [from, D) and [next, to) (next: the rated date after D), add the new rating over [D, next) and
-- merge it with the version ending at D and the one starting at next when they are equal. A version
-- carries the run_id and scored_at of the run that published its valid_from_date (ratings.rated_dates),
-- so the result is the same whatever order dates are (re)published in.
--
-- What a version compares (the rated values): pd_12m, score, rating_grade, risk_segment,
-- current_credit_limit, recommended_credit_limit, decision, decision_rationale, reason_codes,
-- model_name, model_version. Not run_id and scored_at: a version keeps the run that opened it.
--
-- Parameters: %(d)s the rated date, %(run)s the publishing run, %(next)s the rated date after D
-- (9999-12-31 when none), %(next_run)s / %(next_scored_at)s the run that published next.
-- Called by ratings/versions.py, in this order, inside the publishing transaction.

-- name: staged_summary
-- The staged rows of the run: how many, and the one scored_at and model version they must share.
select
    count(*),
    min(scored_at),
    max(scored_at),
    min(model_name),
    max(model_name),
    min(model_version),
    max(model_version)
from ratings_stage.customer_ratings
where run_id = %(run)s and as_of_date = %(d)s;

-- name: following_rated_date
select as_of_date, run_id, scored_at
from ratings.rated_dates
where as_of_date > %(d)s
order by as_of_date
limit 1;

-- name: record_rated_date
-- D is rated by this run (a rerun replaces the run of D).
insert into ratings.rated_dates (as_of_date, run_id, scored_at, model_name, model_version, rows_published)
values (%(d)s, %(run)s, %(scored_at)s, %(model_name)s, %(model_version)s, %(rows)s)
on conflict (as_of_date) do update set
    run_id = excluded.run_id,
    scored_at = excluded.scored_at,
    model_name = excluded.model_name,
    model_version = excluded.model_version,
    rows_published = excluded.rows_published,
    published_at = now();

-- name: work_tables
-- The merge steps below record the neighbours they fold into the new rating here.
drop table if exists _rating_diff, _rating_left, _rating_right;
create temp table _rating_left (
    customer_id text primary key, valid_from_date date, run_id text, scored_at timestamptz
) on commit drop;
create temp table _rating_right (customer_id text primary key, valid_to_date date) on commit drop;

-- name: diff
-- The one pass over every customer: those whose state at D is touched, with their staged rating.
-- changed: rated at D now or before but not both, or a rated value differs; not changed: a rerun whose
-- version starts at D and takes the new run. Every later step reads only these rows.
create temp table _rating_diff on commit drop as
select
    coalesce(s.customer_id, v.customer_id) as customer_id,
    v.valid_from_date as cur_from,
    v.valid_to_date as cur_to,
    s.customer_id is not null as present,
    (
        v.customer_id is null or s.customer_id is null or not (
            v.pd_12m, v.score, v.rating_grade, v.risk_segment, v.current_credit_limit,
            v.recommended_credit_limit, v.decision, v.decision_rationale, v.reason_codes,
            v.model_name, v.model_version
        ) is not distinct from (
            s.pd_12m, s.score, s.rating_grade, s.risk_segment, s.current_credit_limit,
            s.recommended_credit_limit, s.decision, s.decision_rationale, s.reason_codes,
            s.model_name, s.model_version
        )
    ) as changed,
    s.pd_12m,
    s.score,
    s.rating_grade,
    s.risk_segment,
    s.current_credit_limit,
    s.recommended_credit_limit,
    s.decision,
    s.decision_rationale,
    s.reason_codes,
    s.model_name,
    s.model_version,
    s.run_id,
    s.scored_at
from (
    select * from ratings.customer_rating_versions
    where daterange(valid_from_date, valid_to_date) @> %(d)s::date
) as v
full join (
    select * from ratings_stage.customer_ratings
    where run_id = %(run)s and as_of_date = %(d)s
) as s on v.customer_id = s.customer_id
where
    v.customer_id is null or s.customer_id is null or not (
        v.pd_12m, v.score, v.rating_grade, v.risk_segment, v.current_credit_limit,
        v.recommended_credit_limit, v.decision, v.decision_rationale, v.reason_codes,
        v.model_name, v.model_version
    ) is not distinct from (
        s.pd_12m, s.score, s.rating_grade, s.risk_segment, s.current_credit_limit,
        s.recommended_credit_limit, s.decision, s.decision_rationale, s.reason_codes,
        s.model_name, s.model_version
    )
    or (v.valid_from_date = %(d)s and (v.run_id, v.scored_at) is distinct from (s.run_id, s.scored_at));
analyze _rating_diff;

-- name: diff_counts
select count(*) filter (where changed), count(*) filter (where not changed) from _rating_diff;

-- name: rerun_takes_new_run
-- A rerun with an unchanged rating: the version starting at D takes the new run.
update ratings.customer_rating_versions as v
set run_id = c.run_id, scored_at = c.scored_at
from _rating_diff as c
where not c.changed and v.customer_id = c.customer_id and v.valid_from_date = %(d)s;

-- name: split_after
-- The part of a changed version after D: [next, to), published by the run of next.
insert into ratings.customer_rating_versions (
    customer_id, valid_from_date, valid_to_date,
    pd_12m, score, rating_grade, risk_segment, current_credit_limit, recommended_credit_limit,
    decision, decision_rationale, reason_codes, model_name, model_version,
    run_id, scored_at
)
select
    v.customer_id, %(next)s, v.valid_to_date,
    v.pd_12m, v.score, v.rating_grade, v.risk_segment, v.current_credit_limit, v.recommended_credit_limit,
    v.decision, v.decision_rationale, v.reason_codes, v.model_name, v.model_version,
    %(next_run)s, %(next_scored_at)s
from ratings.customer_rating_versions as v
inner join _rating_diff as c on v.customer_id = c.customer_id and v.valid_from_date = c.cur_from
where c.changed and c.cur_to > %(next)s;

-- name: split_before
-- The part before D: [from, D).
update ratings.customer_rating_versions as v
set valid_to_date = %(d)s
from _rating_diff as c
where c.changed and c.cur_from < %(d)s and v.customer_id = c.customer_id and v.valid_from_date = c.cur_from;

-- name: drop_starting_at_d
-- A changed version starting at D has nothing before D.
delete from ratings.customer_rating_versions as v
using _rating_diff as c
where c.changed and c.cur_from = %(d)s and v.customer_id = c.customer_id and v.valid_from_date = %(d)s;

-- name: analyze_versions
-- The steps above moved the end of every changed version to D, inside this transaction: the planner's
-- statistics still say that no version ends at D, so it would join merge_left by a nested loop that
-- scans the whole diff for each version ending at D (43-61 s on a quiet day at 1,000,000 customers,
-- 19,000 ratings changed). ANALYZE samples the table as this transaction sees it (0.4 s at 1M) and the
-- merge becomes a hash join (0.4 s). Skipped with a warning, not an error, for a login that does not
-- own the table.
analyze ratings.customer_rating_versions;

-- name: merge_left
-- The version ending at D, when equal to the new rating, is folded into it (it keeps its start and run).
with merged as (
    delete from ratings.customer_rating_versions as v
    using _rating_diff as c
    where
        c.changed and c.present and v.customer_id = c.customer_id and v.valid_to_date = %(d)s
        and (
            v.pd_12m, v.score, v.rating_grade, v.risk_segment, v.current_credit_limit,
            v.recommended_credit_limit, v.decision, v.decision_rationale, v.reason_codes,
            v.model_name, v.model_version
        ) is not distinct from (
            c.pd_12m, c.score, c.rating_grade, c.risk_segment, c.current_credit_limit,
            c.recommended_credit_limit, c.decision, c.decision_rationale, c.reason_codes,
            c.model_name, c.model_version
        )
    returning v.customer_id, v.valid_from_date, v.run_id, v.scored_at
)
insert into _rating_left select * from merged;

-- name: merge_right
-- The version starting at next, when equal to the new rating, is folded into it (it keeps its end).
with merged as (
    delete from ratings.customer_rating_versions as v
    using _rating_diff as c
    where
        c.changed and c.present and v.customer_id = c.customer_id and v.valid_from_date = %(next)s
        and (
            v.pd_12m, v.score, v.rating_grade, v.risk_segment, v.current_credit_limit,
            v.recommended_credit_limit, v.decision, v.decision_rationale, v.reason_codes,
            v.model_name, v.model_version
        ) is not distinct from (
            c.pd_12m, c.score, c.rating_grade, c.risk_segment, c.current_credit_limit,
            c.recommended_credit_limit, c.decision, c.decision_rationale, c.reason_codes,
            c.model_name, c.model_version
        )
    returning v.customer_id, v.valid_to_date
)
insert into _rating_right select * from merged;

-- name: insert_new
-- The new rating over [D, next), widened by the merged neighbours.
insert into ratings.customer_rating_versions (
    customer_id, valid_from_date, valid_to_date,
    pd_12m, score, rating_grade, risk_segment, current_credit_limit, recommended_credit_limit,
    decision, decision_rationale, reason_codes, model_name, model_version,
    run_id, scored_at
)
select
    c.customer_id,
    coalesce(l.valid_from_date, %(d)s),
    coalesce(r.valid_to_date, %(next)s),
    c.pd_12m, c.score, c.rating_grade, c.risk_segment, c.current_credit_limit, c.recommended_credit_limit,
    c.decision, c.decision_rationale, c.reason_codes, c.model_name, c.model_version,
    coalesce(l.run_id, c.run_id),
    coalesce(l.scored_at, c.scored_at)
from _rating_diff as c
left join _rating_left as l on c.customer_id = l.customer_id
left join _rating_right as r on c.customer_id = r.customer_id
where c.changed and c.present;

-- name: lift_intraday
-- First step of a daily publish: take the intraday versions out (ratings/sql/intraday.sql) and give
-- the daily version each one cut short its open end back, so the steps above see the daily book only.
drop table if exists _intraday_lifted;
create temp table _intraday_lifted on commit drop as
with lifted as (
    delete from ratings.customer_rating_versions where rating_kind = 'intraday'
    returning *
)
select * from lifted;
update ratings.customer_rating_versions as v
set valid_to_date = date '9999-12-31'
from (
    select customer_id, min(valid_from_date) as first_from from _intraday_lifted group by customer_id
) as l
where v.customer_id = l.customer_id and v.valid_to_date = l.first_from;

-- name: reapply_intraday
-- Last step: the intraday versions dated after every rated date go back on top (cutting the version
-- that holds on their date short); those of a date now rated are superseded by the daily run.
delete from _intraday_lifted where valid_from_date <= (select max(as_of_date) from ratings.rated_dates);
update ratings.customer_rating_versions as v
set valid_to_date = l.first_from
from (
    select customer_id, min(valid_from_date) as first_from from _intraday_lifted group by customer_id
) as l
where v.customer_id = l.customer_id and v.valid_from_date < l.first_from and v.valid_to_date > l.first_from;
insert into ratings.customer_rating_versions select * from _intraday_lifted;
