-- BI reads the ratings schema and nothing else: data-quality results reach it through a view in
-- ratings (a view reads its tables with its owner's rights), not through a grant on audit.
create or replace view ratings.data_quality_results as
select
    result_id, run_id, stage, table_name, batch_key, suite_name, check_kind, expectation_type,
    column_name, severity, success, unexpected_count, element_count, unexpected_percent,
    message, validated_at
from audit.data_quality_results;

comment on view ratings.data_quality_results is
    'Every data-quality check result per table and batch (raw interval or as_of_date), for BI.';

do $$
begin
    if exists (select 1 from pg_roles where rolname = 'bi_reader') then
        revoke select on audit.data_quality_results, audit.data_quality_latest from bi_reader;
        revoke usage on schema audit from bi_reader;
        grant select on ratings.data_quality_results to bi_reader;
    end if;
end
$$;
