-- Exposure snapshot for the credit check, refreshed from the feature mart by a role that reads marts
-- (`python -m desk refresh-exposure`, run after the daily publish). open_orders is left as the order
-- book feed wrote it.

-- name: refresh_from_mart
insert into desk.customer_exposure (customer_id, as_of_date, open_receivables)
select
    f.customer_id,
    f.as_of_date,
    coalesce(f.open_receivables, 0)
from marts.customer_features as f
where f.as_of_date = (select max(m.as_of_date) from marts.customer_features as m)
on conflict (customer_id) do update
    set
        as_of_date = excluded.as_of_date,
        open_receivables = excluded.open_receivables,
        refreshed_at = now()
where desk.customer_exposure.as_of_date <= excluded.as_of_date;
