-- The BI contract of the ratings schema (see docs/bi.md), plus the private staging area the scoring
-- task fills before the quality gate. Column names of ratings.* are a public API.
create schema if not exists ratings;
create schema if not exists ratings_stage;

create table if not exists ratings.customer_ratings (
    customer_id text not null,
    as_of_date date not null,
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
    primary key (customer_id, as_of_date)
);
create index if not exists customer_ratings_as_of_date_idx on ratings.customer_ratings (as_of_date);

-- One row per warning episode: opened when a rule's condition starts, last_seen_date moved while it
-- holds, resolved (resolved_date = first rated date it no longer held) when it clears.
create table if not exists ratings.credit_warnings (
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
create unique index if not exists credit_warnings_one_open_episode
    on ratings.credit_warnings (customer_id, rule_code) where status = 'open';
create index if not exists credit_warnings_last_seen_idx on ratings.credit_warnings (last_seen_date);

-- The daily hits behind the episodes: one row per customer, rule and rated date the condition held.
-- Episodes are rebuilt from these rows, so a rerun or an out-of-order backfill stays consistent.
create table if not exists ratings.warning_observations (
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
create index if not exists warning_observations_date_idx on ratings.warning_observations (as_of_date);

create table if not exists ratings.rating_master_scale (
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
create table if not exists ratings.risk_segments (
    risk_segment text primary key,
    segment_rank integer not null,
    grades text [] not null,
    review_frequency_months integer not null check (review_frequency_months > 0),
    description text not null
);

-- One row per rated date (a rerun of the date replaces it).
create table if not exists ratings.model_monitoring (
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

-- Staging: scored rows of a run, before the quality gate; never read by BI.
create table if not exists ratings_stage.customer_ratings (like ratings.customer_ratings including defaults);
alter table ratings_stage.customer_ratings drop constraint if exists customer_ratings_stage_pkey;
alter table ratings_stage.customer_ratings add constraint customer_ratings_stage_pkey
    primary key (run_id, customer_id);
create index if not exists stage_customer_ratings_as_of_date_idx
    on ratings_stage.customer_ratings (as_of_date);

create table if not exists ratings_stage.warning_observations (
    run_id text not null,
    like ratings.warning_observations
);
create index if not exists stage_warning_observations_run_idx on ratings_stage.warning_observations (run_id);
