-- Model monitoring of a rated date D: its row in ratings.model_monitoring and the back-test of the
-- latest matured cohort; see ratings/monitoring.py. Parameters: %(d)s the rated date.

-- name: replace_row
-- D's row (a rerun replaces it); the back-test is filled once D's ratings are written.
delete from ratings.model_monitoring where as_of_date = %(d)s;
insert into ratings.model_monitoring (
    as_of_date, model_name, model_version, rows_scored, grade_distribution, psi, backtest, run_id, scale_version
)
values (
    %(d)s, %(model_name)s, %(model_version)s, %(rows)s, %(distribution)s, %(psi)s, null, %(run)s, %(scale_version)s
);

-- name: labels_exist
select to_regclass('marts.customer_default_labels') is not null;

-- name: latest_cohort
-- The latest rated date on or before D whose labels exist (its horizon has passed).
select max(l.as_of_date)
from marts.customer_default_labels as l
where l.as_of_date <= %(d)s
    and exists (select 1 from ratings.model_monitoring as m where m.as_of_date = l.as_of_date);

-- name: backtest
-- Realised defaults per grade of cohort %(c)s. The cohort's ratings are the versions holding on its
-- (rated) date: read them directly, with the date as a constant, rather than through the view.
select
    r.rating_grade,
    count(*) as customers,
    sum(l.default_flag::int) as defaults,
    avg(r.pd_12m) as mean_pd,
    max(l.horizon_end_date) as horizon_end_date
from ratings.customer_rating_versions as r
inner join marts.customer_default_labels as l
    on l.customer_id = r.customer_id and l.as_of_date = %(c)s
where daterange(r.valid_from_date, r.valid_to_date) @> %(c)s::date
    and exists (select 1 from ratings.rated_dates as d where d.as_of_date = %(c)s)
group by r.rating_grade;

-- name: set_backtest
update ratings.model_monitoring set backtest = %(backtest)s where as_of_date = %(d)s;
