-- Won orders per account and snapshot date: opportunities whose stage known at the date is won and
-- that closed in the last 12 months.
with

snapshot_dates as (
    select * from {{ ref('int_snapshot_dates_selected') }}
),

opportunity_history as (
    select * from {{ ref('stg_crm__opportunity_history') }}
    where stage = 'won' {{ rerated_accounts_only(keyword='and') }}
)

select
    snapshot_dates.as_of_date,
    opportunity_history.account_id,
    count(*) as won_order_count_12m,
    sum(opportunity_history.amount_eur) as won_order_amount_12m
from snapshot_dates
inner join opportunity_history
    on
        {{ known_at('opportunity_history', 'snapshot_dates.as_of_date') }}
        and {{ in_months_window(
            'opportunity_history.closed_date', 'snapshot_dates.as_of_date', 12
        ) }}
group by snapshot_dates.as_of_date, opportunity_history.account_id
