-- Warning observations stored as runs (ratings/sql/episodes.sql): the daily episodes of
-- ratings.credit_warnings, one row per customer, rule and run of consecutive rated dates the rule held
-- on, are the record of the hits; the daily copy of every hit (ratings.warning_observations) goes.
-- At 1,000,000 customers that copy grew by every customer and rule that held, each rated date; the
-- runs grow only by the episodes that open. An episode keeps the values of its last day (as before)
-- and now also those of its first day; the days between are not kept.
alter table ratings.credit_warnings
    add column if not exists first_metric_value double precision,
    add column if not exists first_message text;
comment on column ratings.credit_warnings.first_metric_value is
'The metric on the first day of the episode (metric_value is the last day''s).';
comment on column ratings.credit_warnings.first_message is
'The message of the first day of the episode (message is the last day''s).';

-- Existing episodes: the first day's values from the observations being dropped, else the last day's.
update ratings.credit_warnings as w
set first_metric_value = o.metric_value, first_message = o.message
from ratings.warning_observations as o
where
    w.rating_kind = 'daily'
    and o.customer_id = w.customer_id and o.rule_code = w.rule_code and o.as_of_date = w.first_seen_date;
update ratings.credit_warnings
set first_metric_value = metric_value, first_message = message
where first_message is null;

drop table ratings.warning_observations;

-- The staged hits of a run: one per customer, rule and date, as the dropped table's key guaranteed.
create unique index if not exists stage_warning_observations_key
    on ratings_stage.warning_observations (run_id, as_of_date, customer_id, rule_code);
drop index if exists ratings_stage.stage_warning_observations_run_idx;
