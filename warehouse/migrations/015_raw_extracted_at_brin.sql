-- The daily dbt build reads only the raw rows loaded since its last run (_extracted_at after
-- a watermark). A batch's rows are written together and batches of one table are stamped in commit
-- order, so _extracted_at follows the physical order: a BRIN index finds the new rows in a few
-- pages instead of a scan of the whole table, and costs the load next to nothing.
do $$
declare
    t record;
begin
    for t in
        select c.table_schema, c.table_name
        from information_schema.columns c
        where c.table_schema in ('raw_crm', 'raw_finance') and c.column_name = '_extracted_at'
    loop
        execute format(
            'create index if not exists %I on %I.%I using brin (_extracted_at) with (autosummarize = on)',
            t.table_name || '_extracted_brin', t.table_schema, t.table_name);
    end loop;
end
$$;
