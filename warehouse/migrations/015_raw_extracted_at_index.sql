-- The daily dbt build reads only the raw rows loaded since its last run (_extracted_at after a
-- watermark), and the raw gate selects a batch by _interval_start. A B-tree is exact where a BRIN
-- index is not: the first load's duplicate moves leave free space all over a table, later batches
-- fill it, and at 1,000,000 customers a BRIN range then covered nearly the whole table (a lossy scan
-- of 4 M rows for a batch of 17 k). With one value per batch the B-tree is small (deduplicated), the
-- loader builds it after the COPY on a first load, and a daily batch maintains it for its own rows.
do $$
declare
    t record;
begin
    for t in
        select c.table_schema, c.table_name
        from information_schema.columns c
        where c.table_schema in ('raw_crm', 'raw_finance') and c.column_name = '_extracted_at'
    loop
        execute format('create index if not exists %I on %I.%I (_extracted_at)',
                       t.table_name || '_extracted_idx', t.table_schema, t.table_name);
        execute format('create index if not exists %I on %I.%I (_interval_start)',
                       t.table_name || '_interval_idx', t.table_schema, t.table_name);
        execute format('drop index if exists %I.%I', t.table_schema, t.table_name || '_interval_brin');
    end loop;
end
$$;
