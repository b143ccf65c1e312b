-- Data-quality results: one row per expectation and batch, written by every GX gate run
-- (expectations.gate). success is null when an expectation was not evaluated for the batch (e.g. no
-- previous batch to compare the row count with); message says why. Rows are appended: a rerun of the
-- same batch adds a new set, data_quality_latest shows the newest result of each check per batch.
create table audit.data_quality_results (
    result_id bigserial primary key,
    run_id text not null,
    stage text not null check (stage in ('raw_crm', 'raw_finance', 'features', 'ratings')),
    suite_name text not null,
    table_name text not null,
    batch_key text not null,
    expectation_type text not null,
    check_kind text,
    column_name text,
    kwargs jsonb not null,
    severity text not null check (severity in ('critical', 'warning')),
    success boolean,
    unexpected_count bigint,
    element_count bigint,
    unexpected_percent double precision,
    observed_value jsonb,
    message text not null,
    validated_at timestamptz not null default now()
);
create index data_quality_results_batch_idx
    on audit.data_quality_results (table_name, batch_key, validated_at);
create index data_quality_results_run_idx on audit.data_quality_results (run_id, stage);

create view audit.data_quality_latest as
select distinct on (table_name, batch_key, expectation_type, kwargs, severity) *
from audit.data_quality_results
order by table_name, batch_key, expectation_type, kwargs, severity, validated_at desc, result_id desc;

comment on table audit.data_quality_results is
'One row per GX expectation and batch (raw interval or as_of_date); severity critical stops the run.';
comment on view audit.data_quality_latest is 'Newest result of each data-quality check per table and batch.';

-- BI reads the ratings schema and nothing else: the results reach it through a view in ratings (a
-- view reads its tables with its owner's rights), not through a grant on audit.
create view ratings.data_quality_results as
select
    result_id,
    run_id,
    stage,
    table_name,
    batch_key,
    suite_name,
    check_kind,
    expectation_type,
    column_name,
    severity,
    success,
    unexpected_count,
    element_count,
    unexpected_percent,
    message,
    validated_at
from audit.data_quality_results;

comment on view ratings.data_quality_results is
'Every data-quality check result per table and batch (raw interval or as_of_date), for BI.';
