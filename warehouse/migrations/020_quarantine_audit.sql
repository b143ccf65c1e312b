-- Rows that could not be loaded (with the rule, a reason and the row itself), per-batch counts and
-- the run log of every pipeline task. Nothing is dropped silently: for every batch
-- extracted = loaded + quarantined.
create table quarantine.rejected_rows (
    batch_id text not null,
    source_table text not null,
    rule text not null,
    reason text not null,
    row_data jsonb not null,
    interval_start timestamptz not null,
    interval_end timestamptz not null,
    rejected_at timestamptz not null default now()
);
create index rejected_rows_batch_idx on quarantine.rejected_rows (batch_id);
create index rejected_rows_table_idx on quarantine.rejected_rows (source_table, interval_start);

create table audit.batch_counts (
    batch_id text primary key,
    source_table text not null,
    interval_start timestamptz not null,
    interval_end timestamptz not null,
    extracted bigint not null,
    loaded bigint not null,
    quarantined bigint not null,
    loaded_at timestamptz not null default now(),
    check (extracted = loaded + quarantined),
    check (interval_start < interval_end)
);
create index batch_counts_table_idx on audit.batch_counts (source_table, interval_start);

create table audit.pipeline_runs (
    run_id text not null,
    dag_id text not null,
    task_id text not null,
    as_of_date date,
    status text not null check (status in ('running', 'success', 'failed')),
    rows bigint,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    detail jsonb,
    primary key (run_id, dag_id, task_id)
);
