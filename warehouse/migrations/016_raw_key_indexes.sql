-- Key indexes on every raw table. 012 dropped most of them to speed up loads; at 1,000,000 customers
-- the raw gate's cross-batch checks (a key already loaded by an earlier batch, a parent that exists)
-- then hash-joined each daily batch against whole tables: 9 s per check on payments instead of an
-- index probe per batch row. The loader now builds B-tree indexes after the COPY on a first load
-- (ingest.load._defer_indexes), and a daily batch maintains them for a few thousand rows.
create index if not exists contacts_key_idx on raw_crm.contacts (contact_id);
create index if not exists activities_key_idx on raw_crm.activities (activity_id);
create index if not exists tickets_key_idx on raw_crm.tickets (ticket_id);
create index if not exists opportunities_key_idx on raw_crm.opportunities (opportunity_id);
create index if not exists payments_key_idx on raw_finance.payments (payment_id);
create index if not exists credit_limits_key_idx on raw_finance.credit_limits (limit_id);
create index if not exists credit_notes_key_idx on raw_finance.credit_notes (credit_note_id);
create index if not exists disputes_key_idx on raw_finance.disputes (dispute_id);
create index if not exists default_events_key_idx on raw_finance.default_events (event_id);
create index if not exists bureau_ratings_key_idx on raw_finance.bureau_ratings (rating_id);
