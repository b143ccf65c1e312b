-- Core schemas and the audit tables every task writes to.
create schema if not exists raw_crm;
create schema if not exists raw_finance;
create schema if not exists quarantine;
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists marts;
create schema if not exists ratings;
create schema if not exists audit;

create table if not exists audit.pipeline_runs (
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
