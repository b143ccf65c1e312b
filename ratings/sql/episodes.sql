-- Warning episodes: runs of consecutive rated dates on which a customer + rule holds, rebuilt around a
-- rated date D from the stored observations (ratings.warning_observations); see ratings/episodes.py.
--
-- The rated dates are those of ratings.model_monitoring. An episode's first_seen_date is the first date
-- of its run, last_seen_date the last, resolved_date the next rated date (open while none exists).
-- Only the customer + rule pairs that hold at D or have an episode touching the rated dates just
-- before and after D are rebuilt (daily episodes: intraday ones belong to ratings/sql/intraday.sql), so a rerun or a backfill in any order gives the same episodes as
-- publishing every date once in order. Episodes keep their warning_id while their first_seen_date stays.
--
-- Parameters: %(d)s the rated date, %(prev)s / %(next)s the rated dates before and after it.

-- name: neighbours
select
    max(as_of_date) filter (where as_of_date < %(d)s),
    min(as_of_date) filter (where as_of_date > %(d)s)
from ratings.model_monitoring;

-- name: work_tables
drop table if exists _rated, _affected, _episodes;

-- name: rebuild
-- The affected customer + rule pairs, their episodes recomputed from the observations (islands of
-- consecutive rated dates), then the stored episodes deleted, updated and inserted to match.
create temp table _rated on commit drop as
    select as_of_date, row_number() over (order by as_of_date) as k from ratings.model_monitoring;

create temp table _affected on commit drop as
with touching as (
    select customer_id, rule_code, first_seen_date as lo, last_seen_date as hi
    from ratings.credit_warnings
    where last_seen_date >= %(prev)s and first_seen_date <= %(next)s and rating_kind = 'daily'
    union all
    select customer_id, rule_code, as_of_date, as_of_date
    from ratings.warning_observations
    where as_of_date = %(d)s
)
select customer_id, rule_code, least(min(lo), %(d)s) as lo, greatest(max(hi), %(d)s) as hi
from touching
group by customer_id, rule_code;
analyze _affected;

create temp table _episodes on commit drop as
with obs as (
    select o.*, r.k
    from ratings.warning_observations as o
    inner join _affected as a on a.customer_id = o.customer_id and a.rule_code = o.rule_code
    inner join _rated as r on r.as_of_date = o.as_of_date
    where o.as_of_date between a.lo and a.hi
),
islands as (
    select obs.*, k - row_number() over (partition by customer_id, rule_code order by as_of_date) as grp
    from obs
),
runs as (
    select
        customer_id,
        rule_code,
        min(as_of_date) as first_seen_date,
        max(as_of_date) as last_seen_date,
        max(k) as last_k,
        (array_agg(severity order by as_of_date desc))[1] as severity,
        (array_agg(metric_value order by as_of_date desc))[1] as metric_value,
        (array_agg(threshold order by as_of_date desc))[1] as threshold,
        (array_agg(message order by as_of_date desc))[1] as message,
        (array_agg(model_version order by as_of_date desc))[1] as model_version
    from islands
    group by customer_id, rule_code, grp
)
select
    runs.*,
    nxt.as_of_date as resolved_date,
    case when nxt.as_of_date is null then 'open' else 'resolved' end as status,
    -- a condition that already held on the first rated date is not news: it opens as 'initial'
    case when runs.first_seen_date = (select min(as_of_date) from _rated) then 'initial' else 'new' end
        as opened_as
from runs
left join _rated as nxt on nxt.k = runs.last_k + 1;
analyze _episodes;

delete from ratings.credit_warnings as w
using _affected as a
where w.customer_id = a.customer_id and w.rule_code = a.rule_code and w.rating_kind = 'daily'
    and w.first_seen_date >= a.lo and w.last_seen_date <= a.hi
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
    opened_as = e.opened_as
from _episodes as e
where e.customer_id = w.customer_id and e.rule_code = w.rule_code and e.first_seen_date = w.first_seen_date
    and (w.last_seen_date, w.status, w.resolved_date, w.metric_value, w.message, w.opened_as)
        is distinct from (e.last_seen_date, e.status, e.resolved_date, e.metric_value, e.message, e.opened_as);

insert into ratings.credit_warnings (
    customer_id, rule_code, severity, metric_value, threshold, message,
    first_seen_date, last_seen_date, status, model_version, resolved_date, opened_as
)
select
    e.customer_id, e.rule_code, e.severity, e.metric_value, e.threshold, e.message,
    e.first_seen_date, e.last_seen_date, e.status, e.model_version, e.resolved_date, e.opened_as
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
