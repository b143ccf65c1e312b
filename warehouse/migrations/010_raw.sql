-- Raw layer: source columns as extracted (typed like the source) plus the batch columns. A batch is
-- one (table, data interval). The batch columns are the same on every row of a batch: the loader sets
-- them once per transaction (set_config('raw.batch_id', ...) etc.) and the column defaults read them,
-- so the COPY stream carries only the source columns; NOT NULL makes a load that forgot them fail
-- instead of writing rows without a batch.
--
-- B-tree indexes only: the key (the raw gate's checks against earlier batches, the daily dbt build's
-- lookups of the keys a new batch touches), _extracted_at (the daily dbt build reads the rows loaded
-- since its last run) and _interval_start (a rerun deletes its own batch; the raw gate selects it).
-- With one value per batch the last two stay small; the loader builds all three after the COPY on a
-- first load, and a daily batch maintains them for its own rows.
--
-- Generated from config/sources.yml (ingest.sources.raw_ddl; tests/unit/test_ingest_rules.py checks
-- that this file holds its output).
create table raw_crm.accounts (
    account_id text,
    legal_name text,
    tax_id text,
    industry text,
    region text,
    size_band text,
    status text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index accounts_key_idx on raw_crm.accounts (account_id);
create index accounts_extracted_idx on raw_crm.accounts (_extracted_at);
create index accounts_interval_idx on raw_crm.accounts (_interval_start);
create table raw_crm.contacts (
    contact_id text,
    account_id text,
    first_name text,
    last_name text,
    email text,
    phone text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index contacts_key_idx on raw_crm.contacts (contact_id);
create index contacts_extracted_idx on raw_crm.contacts (_extracted_at);
create index contacts_interval_idx on raw_crm.contacts (_interval_start);
create table raw_crm.activities (
    activity_id text,
    account_id text,
    activity_type text,
    activity_at timestamptz,
    outcome text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index activities_key_idx on raw_crm.activities (activity_id);
create index activities_extracted_idx on raw_crm.activities (_extracted_at);
create index activities_interval_idx on raw_crm.activities (_interval_start);
create table raw_crm.tickets (
    ticket_id text,
    account_id text,
    category text,
    severity integer,
    opened_at timestamptz,
    closed_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index tickets_key_idx on raw_crm.tickets (ticket_id);
create index tickets_extracted_idx on raw_crm.tickets (_extracted_at);
create index tickets_interval_idx on raw_crm.tickets (_interval_start);
create table raw_crm.opportunities (
    opportunity_id text,
    account_id text,
    amount numeric(18,2),
    currency text,
    stage text,
    created_at timestamptz,
    closed_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index opportunities_key_idx on raw_crm.opportunities (opportunity_id);
create index opportunities_extracted_idx on raw_crm.opportunities (_extracted_at);
create index opportunities_interval_idx on raw_crm.opportunities (_interval_start);
create table raw_finance.invoices (
    invoice_id text,
    customer_id text,
    issue_date date,
    due_date date,
    amount numeric(18,2),
    currency text,
    status text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index invoices_key_idx on raw_finance.invoices (invoice_id);
create index invoices_extracted_idx on raw_finance.invoices (_extracted_at);
create index invoices_interval_idx on raw_finance.invoices (_interval_start);
create table raw_finance.payments (
    payment_id text,
    invoice_id text,
    payment_date date,
    amount numeric(18,2),
    currency text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index payments_key_idx on raw_finance.payments (payment_id);
create index payments_extracted_idx on raw_finance.payments (_extracted_at);
create index payments_interval_idx on raw_finance.payments (_interval_start);
create table raw_finance.credit_limits (
    limit_id text,
    customer_id text,
    credit_limit numeric(18,2),
    currency text,
    valid_from date,
    approver text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index credit_limits_key_idx on raw_finance.credit_limits (limit_id);
create index credit_limits_extracted_idx on raw_finance.credit_limits (_extracted_at);
create index credit_limits_interval_idx on raw_finance.credit_limits (_interval_start);
create table raw_finance.credit_notes (
    credit_note_id text,
    invoice_id text,
    customer_id text,
    issue_date date,
    amount numeric(18,2),
    currency text,
    reason text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index credit_notes_key_idx on raw_finance.credit_notes (credit_note_id);
create index credit_notes_extracted_idx on raw_finance.credit_notes (_extracted_at);
create index credit_notes_interval_idx on raw_finance.credit_notes (_interval_start);
create table raw_finance.disputes (
    dispute_id text,
    invoice_id text,
    customer_id text,
    opened_date date,
    resolved_date date,
    amount numeric(18,2),
    currency text,
    status text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index disputes_key_idx on raw_finance.disputes (dispute_id);
create index disputes_extracted_idx on raw_finance.disputes (_extracted_at);
create index disputes_interval_idx on raw_finance.disputes (_interval_start);
create table raw_finance.default_events (
    event_id text,
    customer_id text,
    event_date date,
    event_type text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index default_events_key_idx on raw_finance.default_events (event_id);
create index default_events_extracted_idx on raw_finance.default_events (_extracted_at);
create index default_events_interval_idx on raw_finance.default_events (_interval_start);
create table raw_finance.bureau_ratings (
    rating_id text,
    customer_id text,
    agency text,
    rating text,
    score integer,
    rating_date date,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text not null default current_setting('raw.batch_id', true),
    _extracted_at timestamptz not null default current_setting('raw.extracted_at', true)::timestamptz,
    _interval_start timestamptz not null default current_setting('raw.interval_start', true)::timestamptz,
    _interval_end timestamptz not null default current_setting('raw.interval_end', true)::timestamptz
);
create index bureau_ratings_key_idx on raw_finance.bureau_ratings (rating_id);
create index bureau_ratings_extracted_idx on raw_finance.bureau_ratings (_extracted_at);
create index bureau_ratings_interval_idx on raw_finance.bureau_ratings (_interval_start);
