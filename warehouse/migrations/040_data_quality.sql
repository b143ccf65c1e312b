-- Data-quality results: one row per expectation and batch, written by every GX gate run
-- (expectations.gate). success is null when an expectation was not evaluated for the batch (e.g. no
-- previous batch to compare the row count with); message says why. Rows are appended: a rerun of the
-- same batch adds a new set, data_quality_latest shows the newest result of each check per batch.
create table if not exists audit.data_quality_results (
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
create index if not exists data_quality_results_batch_idx
    on audit.data_quality_results (table_name, batch_key, validated_at);
create index if not exists data_quality_results_run_idx on audit.data_quality_results (run_id, stage);

create or replace view audit.data_quality_latest as
select distinct on (table_name, batch_key, expectation_type, kwargs, severity) *
from audit.data_quality_results
order by table_name, batch_key, expectation_type, kwargs, severity, validated_at desc, result_id desc;

comment on table audit.data_quality_results is
    'One row per GX expectation and batch (raw interval or as_of_date); severity critical stops the run.';
comment on view audit.data_quality_latest is 'Newest result of each data-quality check per table and batch.';

-- BI reads the results; the role itself is created by the ratings migrations (030-039).
do $$
begin
    if exists (select 1 from pg_roles where rolname = 'bi_reader') then
        grant usage on schema audit to bi_reader;
        grant select on audit.data_quality_results, audit.data_quality_latest to bi_reader;
    end if;
end
$$;
