-- Alert deliveries (audit.alert_deliveries): what was already sent, so a rerun sends nothing twice;
-- see ratings/notify.py.

-- name: lock
select pg_advisory_xact_lock(%(key)s);

-- name: delivered
select warning_id from audit.alert_deliveries where channel = %(channel)s and warning_id = any(%(ids)s);

-- name: record_delivery
insert into audit.alert_deliveries (warning_id, channel, as_of_date, recipients, subject, run_id)
values (%(warning_id)s, %(channel)s, %(d)s, %(recipients)s, %(subject)s, %(run)s)
on conflict (warning_id, channel) do nothing;
