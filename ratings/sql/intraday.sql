-- Intraday ratings (ratings/intraday.py): a credit event re-rates a few customers for a date T after
-- every rated date. Their new rating is an intraday version [T, 9999-12-31) on top of the daily book;
-- the open daily version it follows is cut short at T. ratings.customer_ratings (rated dates only)
-- never shows it; current_customer_ratings and open_credit_warnings do, with rating_kind 'intraday'.
-- The daily publish lifts every intraday version first, publishes its date as usual, then puts back
-- those dated after every rated date (versions.sql: lift_intraday, reapply_intraday): the daily run
-- of T supersedes T's intraday versions.
--
-- Parameters: %(d)s the intraday date T, %(run)s the re-rating run.

-- name: latest_rated_date
select max(as_of_date) from ratings.rated_dates;

-- name: grade_changes
-- Each staged customer's grade before this re-rating (the version holding on T) and after, with the
-- new decision, for the run's summary.
select s.customer_id, v.rating_grade, s.rating_grade, s.decision
from ratings_stage.customer_ratings as s
left join ratings.customer_rating_versions as v
    on v.customer_id = s.customer_id and daterange(v.valid_from_date, v.valid_to_date) @> %(d)s::date
where s.run_id = %(run)s and s.as_of_date = %(d)s;

-- name: drop_same_day
-- An earlier re-rating of T for the same customers is replaced.
delete from ratings.customer_rating_versions as v
using ratings_stage.customer_ratings as s
where
    s.run_id = %(run)s and s.as_of_date = %(d)s
    and v.customer_id = s.customer_id and v.valid_from_date = %(d)s and v.rating_kind = 'intraday';

-- name: cut_short
-- The version holding on T (the open daily version, or an intraday one of an earlier day) ends at T.
update ratings.customer_rating_versions as v
set valid_to_date = %(d)s
from ratings_stage.customer_ratings as s
where
    s.run_id = %(run)s and s.as_of_date = %(d)s
    and v.customer_id = s.customer_id and v.valid_from_date < %(d)s and v.valid_to_date > %(d)s;

-- name: insert_intraday
insert into ratings.customer_rating_versions (
    customer_id, valid_from_date, valid_to_date,
    pd_12m, score, rating_grade, risk_segment, current_credit_limit, recommended_credit_limit,
    decision, decision_rationale, reason_codes, model_name, model_version,
    run_id, scored_at, rating_kind
)
select
    s.customer_id, %(d)s, date '9999-12-31',
    s.pd_12m, s.score, s.rating_grade, s.risk_segment, s.current_credit_limit, s.recommended_credit_limit,
    s.decision, s.decision_rationale, s.reason_codes, s.model_name, s.model_version,
    s.run_id, s.scored_at, 'intraday'
from ratings_stage.customer_ratings as s
where s.run_id = %(run)s and s.as_of_date = %(d)s;

-- name: drop_same_day_warnings
-- The warnings an earlier re-rating of T raised for these customers are replaced.
delete from ratings.credit_warnings as w
using ratings_stage.customer_ratings as s
where
    s.run_id = %(run)s and s.as_of_date = %(d)s
    and w.customer_id = s.customer_id and w.first_seen_date = %(d)s and w.rating_kind = 'intraday';

-- name: insert_intraday_warnings
-- A rule that fires for a customer without an open episode of it opens an intraday episode at T (an
-- open one simply continues: the daily run extends it).
insert into ratings.credit_warnings (
    customer_id, rule_code, severity, metric_value, threshold, message,
    first_seen_date, last_seen_date, status, model_version, opened_as, rating_kind,
    first_metric_value, first_message
)
select
    o.customer_id, o.rule_code, o.severity, o.metric_value, o.threshold, o.message,
    %(d)s, %(d)s, 'open', o.model_version, 'new', 'intraday', o.metric_value, o.message
from ratings_stage.warning_observations as o
where
    o.run_id = %(run)s and o.as_of_date = %(d)s
    and not exists (
        select 1 from ratings.credit_warnings as w
        where w.customer_id = o.customer_id and w.rule_code = o.rule_code and w.status = 'open'
    );

-- name: clear_stage
delete from ratings_stage.customer_ratings where run_id = %(run)s;
delete from ratings_stage.warning_observations where run_id = %(run)s;
