-- One row: the first invoice date and the last day with finance data (a change to an invoice or a
-- default event); the defaults of the history start, the snapshot date and the label cutoff when a
-- run does not pass them as vars.
with

invoice_history as (
    select * from {{ ref('stg_finance__invoice_history') }}
),

default_event_history as (
    select * from {{ ref('stg_finance__default_event_history') }}
),

invoice_bounds as (
    select
        min(issue_date) as first_invoice_date,
        max(valid_from_date) as last_change_date
    from invoice_history
),

default_event_bounds as (
    select max(valid_from_date) as last_change_date
    from default_event_history
)

select
    invoice_bounds.first_invoice_date,
    greatest(
        invoice_bounds.last_change_date, default_event_bounds.last_change_date
    ) as last_data_date
from invoice_bounds
cross join default_event_bounds
