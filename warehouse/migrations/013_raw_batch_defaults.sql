-- The four batch columns are the same on every row of a batch: the loader sets them once per
-- transaction (set_config('raw.batch_id', ...) etc.) and the column defaults read them, so the COPY
-- stream carries only the source columns. NOT NULL makes a load that forgot them fail instead of
-- writing rows without a batch.
do $$
declare
    t record;
begin
    for t in
        select c.table_schema, c.table_name
        from information_schema.columns c
        where c.table_schema in ('raw_crm', 'raw_finance') and c.column_name = '_batch_id'
    loop
        execute format(
            'alter table %I.%I
                alter column _batch_id set default current_setting(''raw.batch_id'', true),
                alter column _extracted_at set default current_setting(''raw.extracted_at'', true)::timestamptz,
                alter column _interval_start set default current_setting(''raw.interval_start'', true)::timestamptz,
                alter column _interval_end set default current_setting(''raw.interval_end'', true)::timestamptz,
                alter column _batch_id set not null,
                alter column _extracted_at set not null,
                alter column _interval_start set not null,
                alter column _interval_end set not null',
            t.table_schema, t.table_name);
    end loop;
end
$$;
