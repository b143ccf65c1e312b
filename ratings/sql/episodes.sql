-- Warning episodes: runs of consecutive rated dates on which a customer + rule holds. The daily episodes
-- are the record of the warning observations (warehouse/migrations/180_warning_runs.sql): one row per
-- customer, rule and run, with the values observed on the run's last date; see ratings/episodes.py.
--
-- The rated dates are those of ratings.model_monitoring, numbered k = 1, 2, ... An episode's
-- first_seen_date is the first date of its run, last_seen_date the last, resolved_date the next rated
-- date (open while none exists). Publishing a rated date D changes only the customer + rule pairs that
-- hold at D (the run's staged hits) or have a daily episode touching the rated dates just before and
-- after D (intraday ones belong to ratings/sql/intraday.sql): their runs there lose D (a run across D
-- splits in two), D's hits are added as one-day runs, and runs that now meet merge. So a rerun or a
-- backfill in any order gives the same episodes as publishing every date once in order. An episode
-- keeps the values of its first and of its last day, not those of the days between: where D cuts an
-- episode in two (a corrected rerun, or a date published inside it for the first time), a part of
-- one day gets that day's values, a longer part the values the episode observed last. Episodes keep their warning_id while their first_seen_date stays.
--
-- Parameters: %(d)s the rated date, %(run)s the publishing run (its hits are in
-- ratings_stage.warning_observations), %(prev)s / %(next)s the rated dates before and after D.

-- name: neighbours
select
    bool_or(as_of_date = %(d)s),
    max(as_of_date) filter (where as_of_date < %(d)s),
    min(as_of_date) filter (where as_of_date > %(d)s)
from ratings.model_monitoring;

-- name: work_tables
drop table if exists _rated, _runs, _episodes;

-- name: rebuild
-- The daily episodes touching [prev, next] and D's hits as runs of rated-date numbers, D cut out of
-- the episodes and added back as the hits, merged where they meet; then the stored episodes deleted,
-- updated and inserted to match.
create temp table _rated on commit drop as
    select as_of_date, row_number() over (order by as_of_date) as k from ratings.model_monitoring;
create unique index on _rated (as_of_date);
analyze _rated;

create temp table _runs on commit drop as
    select w.customer_id, w.rule_code, f.k as a, l.k as b,
        w.severity, w.metric_value, w.threshold, w.message, w.model_version,
        coalesce(w.first_metric_value, w.metric_value) as first_metric_value,
        coalesce(w.first_message, w.message) as first_message
    from ratings.credit_warnings as w
    inner join _rated as f on f.as_of_date = w.first_seen_date
    inner join _rated as l on l.as_of_date = w.last_seen_date
    where w.last_seen_date >= %(prev)s and w.first_seen_date <= %(next)s and w.rating_kind = 'daily';
analyze _runs;

create temp table _episodes on commit drop as
with d as (
    select k from _rated where as_of_date = %(d)s
),
pieces as (
    -- an episode's part before D, its part after D, and D's hits. A part cut off by D keeps the values
    -- the episode observed last, except that a one-day part before D has the values of the episode's
    -- first day, which is that day
    select r.customer_id, r.rule_code, r.a, least(r.b, d.k - 1) as b,
        r.severity,
        case when r.b >= d.k and r.a = d.k - 1 then r.first_metric_value else r.metric_value end
            as metric_value,
        r.threshold,
        case when r.b >= d.k and r.a = d.k - 1 then r.first_message else r.message end as message,
        r.model_version, r.first_metric_value, r.first_message
    from _runs as r cross join d
    where r.a < d.k
    union all
    select r.customer_id, r.rule_code, greatest(r.a, d.k + 1), r.b,
        r.severity, r.metric_value, r.threshold, r.message, r.model_version,
        case when r.a > d.k then r.first_metric_value else r.metric_value end,
        case when r.a > d.k then r.first_message else r.message end
    from _runs as r cross join d
    where r.b > d.k
    union all
    select h.customer_id, h.rule_code, d.k, d.k,
        h.severity, h.metric_value, h.threshold, h.message, h.model_version, h.metric_value, h.message
    from ratings_stage.warning_observations as h cross join d
    where h.run_id = %(run)s and h.as_of_date = %(d)s
),
starts as (
    -- a piece starts a new run unless it begins on the rated date after the previous piece ends
    select
        pieces.*,
        case when a = lag(b) over w + 1 then 0 else 1 end as is_start
    from pieces
    window w as (partition by customer_id, rule_code order by a)
),
islands as (
    select starts.*, sum(is_start) over (partition by customer_id, rule_code order by a) as grp
    from starts
),
runs as (
    select
        customer_id,
        rule_code,
        min(a) as first_k,
        max(b) as last_k,
        (array_agg(severity order by b desc))[1] as severity,
        (array_agg(metric_value order by b desc))[1] as metric_value,
        (array_agg(threshold order by b desc))[1] as threshold,
        (array_agg(message order by b desc))[1] as message,
        (array_agg(model_version order by b desc))[1] as model_version,
        (array_agg(first_metric_value order by a))[1] as first_metric_value,
        (array_agg(first_message order by a))[1] as first_message
    from islands
    group by customer_id, rule_code, grp
)
select
    runs.customer_id,
    runs.rule_code,
    f.as_of_date as first_seen_date,
    l.as_of_date as last_seen_date,
    runs.severity,
    runs.metric_value,
    runs.threshold,
    runs.message,
    runs.model_version,
    runs.first_metric_value,
    runs.first_message,
    nxt.as_of_date as resolved_date,
    case when nxt.as_of_date is null then 'open' else 'resolved' end as status,
    -- a condition that already held on the first rated date is not news: it opens as 'initial'
    case when runs.first_k = 1 then 'initial' else 'new' end as opened_as
from runs
inner join _rated as f on f.k = runs.first_k
inner join _rated as l on l.k = runs.last_k
left join _rated as nxt on nxt.k = runs.last_k + 1;
analyze _episodes;

-- the touching episodes (those _runs read) that no longer start a run
delete from ratings.credit_warnings as w
where w.last_seen_date >= %(prev)s and w.first_seen_date <= %(next)s and w.rating_kind = 'daily'
    and not exists (
        select 1 from _episodes as e
        where e.customer_id = w.customer_id and e.rule_code = w.rule_code
            and e.first_seen_date = w.first_seen_date
    );

update ratings.credit_warnings as w
set last_seen_date = e.last_seen_date,
    severity = e.severity,
    metric_value = e.metric_value,
    threshold = e.threshold,
    message = e.message,
    model_version = e.model_version,
    status = e.status,
    resolved_date = e.resolved_date,
    opened_as = e.opened_as,
    first_metric_value = e.first_metric_value,
    first_message = e.first_message
from _episodes as e
where e.customer_id = w.customer_id and e.rule_code = w.rule_code and e.first_seen_date = w.first_seen_date
    and w.rating_kind = 'daily'
    and (w.last_seen_date, w.status, w.resolved_date, w.opened_as,
        w.severity, w.metric_value, w.threshold, w.message, w.model_version, w.first_metric_value, w.first_message)
        is distinct from (e.last_seen_date, e.status, e.resolved_date, e.opened_as,
            e.severity, e.metric_value, e.threshold, e.message, e.model_version, e.first_metric_value, e.first_message);

insert into ratings.credit_warnings (
    customer_id, rule_code, severity, metric_value, threshold, message,
    first_seen_date, last_seen_date, status, model_version, resolved_date, opened_as,
    first_metric_value, first_message
)
select
    e.customer_id, e.rule_code, e.severity, e.metric_value, e.threshold, e.message,
    e.first_seen_date, e.last_seen_date, e.status, e.model_version, e.resolved_date, e.opened_as,
    e.first_metric_value, e.first_message
from _episodes as e
where not exists (
    select 1 from ratings.credit_warnings as w
    where w.customer_id = e.customer_id and w.rule_code = e.rule_code and w.first_seen_date = e.first_seen_date
);

-- name: counts
-- opened: episodes starting at D (new ones; initial: those of the first rated date); continued:
-- started before D and holding at D; resolved at D.
select
    count(*) filter (where first_seen_date = %(d)s and opened_as = 'new'),
    count(*) filter (where first_seen_date = %(d)s and opened_as = 'initial'),
    count(*) filter (where first_seen_date < %(d)s and last_seen_date >= %(d)s),
    count(*) filter (where resolved_date = %(d)s)
from ratings.credit_warnings
where last_seen_date >= %(prev)s and first_seen_date <= %(d)s;

-- name: opened_on
-- New episodes of a severity that opened on D (what the alert lists; initial ones are counted, never
-- listed). Parameters: %(d)s, %(severity)s.
select warning_id, customer_id, rule_code, severity, metric_value, threshold, message, first_seen_date
from ratings.credit_warnings
where first_seen_date = %(d)s and severity = %(severity)s and opened_as = 'new'
order by rule_code, customer_id;

-- name: opened_counts
-- How many episodes of a severity opened on D, new and initial. Parameters: %(d)s, %(severity)s.
select
    count(*) filter (where opened_as = 'new'),
    count(*) filter (where opened_as = 'initial')
from ratings.credit_warnings
where first_seen_date = %(d)s and severity = %(severity)s;
