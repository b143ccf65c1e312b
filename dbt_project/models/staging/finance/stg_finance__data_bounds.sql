-- One row: the first invoice date and the last day with finance data in raw; the defaults of the
-- history start, the snapshot date and the label cutoff when a run does not pass them.
with

invoices as (
    select
        min(issue_date) as first_invoice_date,
        max({{ utc_date('updated_at') }}) as last_update_date
    from {{ source('raw_finance', 'invoices') }}
),

default_events as (
    select max({{ utc_date('updated_at') }}) as last_update_date
    from {{ source('raw_finance', 'default_events') }}
)

select
    invoices.first_invoice_date,
    greatest(
        invoices.last_update_date, default_events.last_update_date
    ) as last_data_date
from invoices
cross join default_events
