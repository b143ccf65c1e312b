-- Complaints and open tickets per account and snapshot date.
with

snapshot_dates as (
    select * from {{ ref('int_snapshot_dates_selected') }}
),

ticket_history as (
    select * from {{ ref('stg_crm__ticket_history') }} {{ rerated_accounts_only() }}
),

tickets as (
    select
        snapshot_dates.as_of_date,
        ticket_history.account_id,
        ticket_history.category,
        ticket_history.severity,
        ticket_history.opened_date,
        ticket_history.closed_date
    from snapshot_dates
    inner join ticket_history
        on
            {{ known_at('ticket_history', 'snapshot_dates.as_of_date') }}
            and ticket_history.opened_date <= snapshot_dates.as_of_date
)

select
    as_of_date,
    account_id,
    count(*) filter (
        where
        category = 'complaint'
        and {{ in_months_window('opened_date', 'as_of_date', 3) }}
    ) as complaint_count_3m,
    count(*) filter (
        where
        category = 'complaint'
        and {{ in_months_window('opened_date', 'as_of_date', 12) }}
    ) as complaint_count_12m,
    coalesce(
        max(severity) filter (
            where
            category = 'complaint'
            and {{ in_months_window('opened_date', 'as_of_date', 6) }}
        ),
        0
    ) as max_complaint_severity_6m,
    count(*) filter (
        where closed_date is null or closed_date > as_of_date
    ) as open_ticket_count
from tickets
group by as_of_date, account_id
