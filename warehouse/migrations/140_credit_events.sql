-- Event-driven re-rating (docs/events.md): credit events from the source systems re-rate the affected
-- customers within the day; the daily run stays the book of record.
--
-- * events.inbox: every credit event message the crm_credit_events DAG received (a signal, not the
--   record: the record is the source row, extracted by watermark);
-- * events.rejected_events: messages that could not be used (malformed, unknown type, unknown
--   customer), with the reason; nothing is dropped silently;
-- * events.source_watermarks: per source table, how far the intraday extraction has read, so a message
--   lost while the triggerer was down (Redis pub/sub keeps none) only delays the re-rating;
-- * events.rerate_accounts: the accounts the running re-rating builds features for (read by dbt);
-- * rating_kind on the rating versions and warning episodes: 'daily' (the book of record) or
--   'intraday' (provisional, later than every rated date; the daily run of its date supersedes it).
create schema if not exists events;

create table if not exists events.inbox (
    event_id text primary key,
    event_type text not null,
    account_id text not null,
    source_table text not null,
    source_key text,
    occurred_at timestamptz,
    published_at timestamptz,
    received_at timestamptz not null default now(),
    run_id text not null
);
create index if not exists inbox_run_idx on events.inbox (run_id);

comment on table events.inbox is
'Credit event messages received by crm_credit_events (one row per event_id; a resent message is not stored twice).';

create table if not exists events.rejected_events (
    rejected_id bigint generated always as identity primary key,
    event_id text,
    reason text not null,
    payload text not null,
    run_id text not null,
    rejected_at timestamptz not null default now()
);
create index if not exists rejected_events_run_idx on events.rejected_events (run_id);

comment on table events.rejected_events is
'Credit event messages that were not used, with the reason (malformed JSON, missing field, unknown type or customer).';

create table if not exists events.source_watermarks (
    source_table text primary key,
    loaded_until timestamptz not null,
    run_id text not null,
    updated_at timestamptz not null default now()
);

comment on table events.source_watermarks is
'Per source table: rows with updated_at before loaded_until are in raw (daily batches cover whole days after it).';

create table if not exists events.rerate_accounts (
    account_id text primary key
);

comment on table events.rerate_accounts is
'The accounts of the re-rating in progress (dbt var rerate=true builds only their features).';

grant usage on schema events to pipeline_writer;
grant select, insert, update, delete on all tables in schema events to pipeline_writer;
alter default privileges in schema events grant select, insert, update, delete on tables to pipeline_writer;

alter table ratings.customer_rating_versions
    add column if not exists rating_kind text not null default 'daily'
    check (rating_kind in ('daily', 'intraday'));

comment on column ratings.customer_rating_versions.rating_kind is
'daily: published by the daily run (the book of record); intraday: a re-rating after a credit event, dated after every rated date, replaced when the daily run rates its date.';

alter table ratings.credit_warnings
    add column if not exists rating_kind text not null default 'daily'
    check (rating_kind in ('daily', 'intraday'));

comment on column ratings.credit_warnings.rating_kind is
'daily: an episode of the daily runs; intraday: raised by an intraday re-rating, replaced by the daily run of its date.';

-- ratings.customer_ratings gains rating_kind as its last column (always daily: a rated date shows the
-- book of record); the dbt BI views current_customer_ratings and open_credit_warnings gain it too
-- (dbt_project/models/bi).
create or replace view ratings.customer_ratings as
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
    v.scored_at,
    v.rating_kind
from ratings.rated_dates as d
inner join ratings.customer_rating_versions as v
    on
        daterange(v.valid_from_date, v.valid_to_date) @> d.as_of_date
        and d.as_of_date >= v.valid_from_date
        and d.as_of_date < v.valid_to_date;

comment on column ratings.customer_ratings.rating_kind is
'Always daily here: a rated date shows the book of record.';
