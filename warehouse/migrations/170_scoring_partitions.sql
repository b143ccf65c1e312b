-- Scoring partitioned over workers (ratings/partitions.py). The daily run's plan_scoring task writes
-- one row per hash partition of the book for (run_id, as_of_date): how many partitions, the model
-- version every partition scores with and the one scored_at they all stamp. Each score_partition task
-- stages its partition's rows in ratings_stage and marks its row staged (rows, observations, grade
-- counts) in the same transaction; score_and_publish publishes only when every row is staged, then
-- deletes the run's rows with its staged ratings. Never read by BI.
-- A customer's partition: (hashtextextended(customer_id, 0) & 9223372036854775807) % partitions.
create table if not exists ratings_stage.scoring_partitions (
    run_id text not null,
    as_of_date date not null,
    partition_no integer not null,
    partitions integer not null check (partitions > 0),
    model_name text not null,
    model_version text not null,
    scored_at timestamptz not null,
    planned_at timestamptz not null default now(),
    staged_at timestamptz,
    rows bigint,
    observations bigint,
    grade_counts jsonb,
    constraint scoring_partitions_pkey primary key (run_id, partition_no),
    constraint scoring_partitions_in_range check (partition_no >= 0 and partition_no < partitions)
);
create index if not exists scoring_partitions_as_of_date_idx on ratings_stage.scoring_partitions (as_of_date);

-- The partition of a customer among `partitions`: a stable hash of the key, the same in every run and
-- on every server of this major version. Inlined by the planner (a plain SQL expression).
create or replace function ratings_stage.scoring_partition(customer_id text, partitions integer)
returns integer
language sql
immutable
parallel safe
return ((hashtextextended(customer_id, 0) & 9223372036854775807) % partitions)::integer;
