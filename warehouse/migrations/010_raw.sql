-- Raw layer: source columns as extracted (typed like the source) plus the batch columns.
-- A batch is one (table, data interval); generated from config/sources.yml (ingest.sources.raw_ddl).
create table if not exists raw_crm.accounts (
    account_id text,
    legal_name text,
    tax_id text,
    industry text,
    region text,
    size_band text,
    status text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists accounts_batch_idx on raw_crm.accounts (_batch_id);
create index if not exists accounts_interval_idx on raw_crm.accounts (_interval_start);
create index if not exists accounts_key_idx on raw_crm.accounts (account_id);
create table if not exists raw_crm.contacts (
    contact_id text,
    account_id text,
    first_name text,
    last_name text,
    email text,
    phone text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists contacts_batch_idx on raw_crm.contacts (_batch_id);
create index if not exists contacts_interval_idx on raw_crm.contacts (_interval_start);
create index if not exists contacts_key_idx on raw_crm.contacts (contact_id);
create table if not exists raw_crm.activities (
    activity_id text,
    account_id text,
    activity_type text,
    activity_at timestamptz,
    outcome text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists activities_batch_idx on raw_crm.activities (_batch_id);
create index if not exists activities_interval_idx on raw_crm.activities (_interval_start);
create index if not exists activities_key_idx on raw_crm.activities (activity_id);
create table if not exists raw_crm.tickets (
    ticket_id text,
    account_id text,
    category text,
    severity integer,
    opened_at timestamptz,
    closed_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists tickets_batch_idx on raw_crm.tickets (_batch_id);
create index if not exists tickets_interval_idx on raw_crm.tickets (_interval_start);
create index if not exists tickets_key_idx on raw_crm.tickets (ticket_id);
create table if not exists raw_crm.opportunities (
    opportunity_id text,
    account_id text,
    amount numeric(18,2),
    currency text,
    stage text,
    created_at timestamptz,
    closed_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists opportunities_batch_idx on raw_crm.opportunities (_batch_id);
create index if not exists opportunities_interval_idx on raw_crm.opportunities (_interval_start);
create index if not exists opportunities_key_idx on raw_crm.opportunities (opportunity_id);
create table if not exists raw_finance.invoices (
    invoice_id text,
    customer_id text,
    issue_date date,
    due_date date,
    amount numeric(18,2),
    currency text,
    status text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists invoices_batch_idx on raw_finance.invoices (_batch_id);
create index if not exists invoices_interval_idx on raw_finance.invoices (_interval_start);
create index if not exists invoices_key_idx on raw_finance.invoices (invoice_id);
create table if not exists raw_finance.payments (
    payment_id text,
    invoice_id text,
    payment_date date,
    amount numeric(18,2),
    currency text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists payments_batch_idx on raw_finance.payments (_batch_id);
create index if not exists payments_interval_idx on raw_finance.payments (_interval_start);
create index if not exists payments_key_idx on raw_finance.payments (payment_id);
create table if not exists raw_finance.credit_limits (
    limit_id text,
    customer_id text,
    credit_limit numeric(18,2),
    currency text,
    valid_from date,
    approver text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists credit_limits_batch_idx on raw_finance.credit_limits (_batch_id);
create index if not exists credit_limits_interval_idx on raw_finance.credit_limits (_interval_start);
create index if not exists credit_limits_key_idx on raw_finance.credit_limits (limit_id);
create table if not exists raw_finance.credit_notes (
    credit_note_id text,
    invoice_id text,
    customer_id text,
    issue_date date,
    amount numeric(18,2),
    currency text,
    reason text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists credit_notes_batch_idx on raw_finance.credit_notes (_batch_id);
create index if not exists credit_notes_interval_idx on raw_finance.credit_notes (_interval_start);
create index if not exists credit_notes_key_idx on raw_finance.credit_notes (credit_note_id);
create table if not exists raw_finance.disputes (
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
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists disputes_batch_idx on raw_finance.disputes (_batch_id);
create index if not exists disputes_interval_idx on raw_finance.disputes (_interval_start);
create index if not exists disputes_key_idx on raw_finance.disputes (dispute_id);
create table if not exists raw_finance.default_events (
    event_id text,
    customer_id text,
    event_date date,
    event_type text,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists default_events_batch_idx on raw_finance.default_events (_batch_id);
create index if not exists default_events_interval_idx on raw_finance.default_events (_interval_start);
create index if not exists default_events_key_idx on raw_finance.default_events (event_id);
create table if not exists raw_finance.bureau_ratings (
    rating_id text,
    customer_id text,
    agency text,
    rating text,
    score integer,
    rating_date date,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _extracted_at timestamptz,
    _interval_start timestamptz,
    _interval_end timestamptz
);
create index if not exists bureau_ratings_batch_idx on raw_finance.bureau_ratings (_batch_id);
create index if not exists bureau_ratings_interval_idx on raw_finance.bureau_ratings (_interval_start);
create index if not exists bureau_ratings_key_idx on raw_finance.bureau_ratings (rating_id);
