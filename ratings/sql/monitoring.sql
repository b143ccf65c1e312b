-- Model monitoring of a rated date D: its row in ratings.model_monitoring and the back-test of every
-- rated date whose horizon has matured; see ratings/monitoring.py. Parameters: %(d)s the rated date.

-- name: replace_row
-- D's row (a rerun replaces it); the back-test is filled once D's horizon has matured.
delete from ratings.model_monitoring where as_of_date = %(d)s;
insert into ratings.model_monitoring (
    as_of_date, model_name, model_version, rows_scored, grade_distribution, psi, backtest, run_id,
    scale_version, default_share, defaults_rated, new_defaults
)
values (
    %(d)s, %(model_name)s, %(model_version)s, %(rows)s, %(distribution)s, %(psi)s, null, %(run)s,
    %(scale_version)s, %(default_share)s, %(defaults_rated)s, %(new_defaults)s
);

-- name: new_defaults
-- Customers rated in a default grade on D who were not rated so on the rated date before D (null
-- when D is the first rated date: there is nothing to be new against). Parameters: %(grades)s.
with prev as (select max(as_of_date) as d from ratings.rated_dates where as_of_date < %(d)s)

select
    case
        when (select d from prev) is null then null
        else (
            select count(*)
            from ratings.customer_rating_versions as v
            where
                daterange(v.valid_from_date, v.valid_to_date) @> %(d)s::date
                and v.rating_grade = any(%(grades)s)
                and not exists (
                    select 1 from ratings.customer_rating_versions as p
                    where
                        p.customer_id = v.customer_id
                        and daterange(p.valid_from_date, p.valid_to_date) @> (select d from prev)
                        and p.rating_grade = any(%(grades)s)
                )
        )
    end;

-- name: labels_exist
select to_regclass('marts.customer_default_labels') is not null;

-- name: matured_cohorts
-- Rated dates up to D whose horizon has matured (their labels exist) and whose back-test is still empty.
select m.as_of_date
from ratings.model_monitoring as m
where
    m.as_of_date <= %(d)s
    and m.backtest is null
    and exists (select 1 from marts.customer_default_labels as l where l.as_of_date = m.as_of_date)
order by m.as_of_date;

-- name: backtest
-- Realised defaults per performing grade of cohort %(c)s. The cohort's ratings are the versions
-- holding on its (rated) date: read them directly, with the date as a constant, rather than through
-- the view. Customers rated D on the cohort date are already in default: they are not back-tested.
select
    r.rating_grade,
    count(*) as customers,
    sum(l.default_flag::int) as defaults,
    avg(r.pd_12m) as mean_pd,
    max(l.horizon_end_date) as horizon_end_date
from ratings.customer_rating_versions as r
inner join marts.customer_default_labels as l
    on r.customer_id = l.customer_id and l.as_of_date = %(c)s
where
    daterange(r.valid_from_date, r.valid_to_date) @> %(c)s::date
    and r.rating_grade <> all(%(default_grades)s)
    and exists (select 1 from ratings.rated_dates as d where d.as_of_date = %(c)s)
group by r.rating_grade;

-- name: set_backtest
update ratings.model_monitoring set backtest = %(backtest)s where as_of_date = %(c)s;

-- name: decision_mix
-- The credit decisions of a rated date per grade, best grade first (demo summary, bench_pipeline).
select r.rating_grade, r.decision, count(*) as customers
from ratings.customer_ratings as r
inner join ratings.rating_master_scale as s on s.grade = r.rating_grade
where r.as_of_date = %(as_of_date)s
group by r.rating_grade, s.grade_rank, r.decision
order by s.grade_rank, r.decision;

-- name: monitoring_summary
-- A rated date's monitoring row, and the back-test of the latest matured rated date up to it (the demo
-- summary, ratings.monitoring.format_monitoring). Parameters: %(as_of_date)s.
select
    m.psi,
    m.default_share,
    m.new_defaults,
    (
        select b.backtest from ratings.model_monitoring as b
        where b.backtest is not null and b.as_of_date <= %(as_of_date)s
        order by b.as_of_date desc limit 1
    ) as latest_backtest
from ratings.model_monitoring as m
where m.as_of_date = %(as_of_date)s;
