-- Rows that could not be loaded (with the rule, a reason and the row itself) and per-batch counts.
-- Nothing is dropped silently: for every batch extracted = loaded + quarantined.
create table if not exists quarantine.rejected_rows (
    batch_id text not null,
    source_table text not null,
    rule text not null,
    reason text not null,
    row_data jsonb not null,
    interval_start timestamptz not null,
    interval_end timestamptz not null,
    rejected_at timestamptz not null default now()
);
create index if not exists rejected_rows_batch_idx on quarantine.rejected_rows (batch_id);
create index if not exists rejected_rows_table_idx on quarantine.rejected_rows (source_table, interval_start);

create table if not exists audit.batch_counts (
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
create index if not exists batch_counts_table_idx on audit.batch_counts (source_table, interval_start);
