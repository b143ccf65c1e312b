-- Credit notes issued per account and snapshot date over the last 12 months (as known at the date).
with

snapshot_dates as (
    select * from {{ ref('int_snapshot_dates_selected') }}
),

credit_note_history as (
    select * from {{ ref('stg_finance__credit_note_history') }} {{ rerated_accounts_only() }}
)

select
    snapshot_dates.as_of_date,
    credit_note_history.account_id,
    count(*) as credit_note_count_12m,
    sum(credit_note_history.amount_eur) as credit_note_amount_12m
from snapshot_dates
inner join credit_note_history
    on
        {{ known_at('credit_note_history', 'snapshot_dates.as_of_date') }}
        and {{ in_months_window(
            'credit_note_history.issue_date', 'snapshot_dates.as_of_date', 12
        ) }}
group by snapshot_dates.as_of_date, credit_note_history.account_id
