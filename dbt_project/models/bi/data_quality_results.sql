-- Every data-quality check result per table and batch. BI reads the ratings schema and nothing
-- else: the results reach it through this view (a view reads its tables with its owner's rights),
-- not through a grant on audit. The kwargs and observed values stay in audit (a failed column
-- check may sample values).
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
from {{ source('audit', 'data_quality_results') }}
