-- Disputes per account and snapshot date: opened in the last 12 months, and the amount still
-- under open dispute at the date.
with

snapshot_dates as (
    select * from {{ ref('int_snapshot_dates_selected') }}
),

dispute_history as (
    select * from {{ ref('stg_finance__dispute_history') }} {{ rerated_accounts_only() }}
)

select
    snapshot_dates.as_of_date,
    dispute_history.account_id,
    count(*) filter (
        where {{ in_months_window(
            'dispute_history.opened_date', 'snapshot_dates.as_of_date', 12
        ) }}
    ) as dispute_count_12m,
    coalesce(
        sum(dispute_history.amount_eur) filter (
            where
            dispute_history.status = 'open'
            and (
                dispute_history.resolved_date is null
                or dispute_history.resolved_date > snapshot_dates.as_of_date
            )
        ),
        0
    ) as open_dispute_amount
from snapshot_dates
inner join dispute_history
    on
        {{ known_at('dispute_history', 'snapshot_dates.as_of_date') }}
        and dispute_history.opened_date <= snapshot_dates.as_of_date
group by snapshot_dates.as_of_date, dispute_history.account_id
