-- CRM engagement per account and snapshot date: recent activities, the share with a bad
-- outcome and the last contact.
with

snapshot_dates as (
    select * from {{ ref('int_snapshot_dates_selected') }}
),

activity_history as (
    select * from {{ ref('stg_crm__activity_history') }} {{ rerated_accounts_only() }}
)

select
    snapshot_dates.as_of_date,
    activity_history.account_id,
    count(*) filter (
        where {{ in_months_window(
            'activity_history.activity_date', 'snapshot_dates.as_of_date', 3
        ) }}
    ) as activity_count_3m,
    count(*) filter (
        where {{ in_months_window(
            'activity_history.activity_date', 'snapshot_dates.as_of_date', 6
        ) }}
    ) as activity_count_6m,
    count(*) filter (
        where
        {{ in_months_window(
            'activity_history.activity_date', 'snapshot_dates.as_of_date', 6
        ) }}
        and activity_history.outcome in ('negative', 'no_answer')
    ) as negative_outcome_count_6m,
    max(activity_history.activity_date) as last_activity_date
from snapshot_dates
inner join activity_history
    on
        {{ known_at('activity_history', 'snapshot_dates.as_of_date') }}
        and activity_history.activity_date <= snapshot_dates.as_of_date
group by snapshot_dates.as_of_date, activity_history.account_id
