-- Default status per account and snapshot date: a default event in the last 12 months, the
-- latest default event up to the date, and whether the account has left the book (an exit event,
-- var exit_default_events, up to the date).
with

snapshot_dates as (
    select * from {{ ref('int_snapshot_dates_selected') }}
),

default_event_history as (
    select * from {{ ref('stg_finance__default_event_history') }} {{ rerated_accounts_only() }}
)

select
    snapshot_dates.as_of_date,
    default_event_history.account_id,
    bool_or(
        {{ in_months_window(
            'default_event_history.event_date', 'snapshot_dates.as_of_date', 12
        ) }}
    ) as has_default_12m,
    max(default_event_history.event_date) as last_default_date,
    coalesce(
        bool_or(
            default_event_history.event_type in (
                {%- for event in var('exit_default_events') %}
                    '{{ event }}'{{ ',' if not loop.last }}
                {%- endfor %}
            )
        ),
        false
    ) as has_exit_event
from snapshot_dates
inner join default_event_history
    on
        {{ known_at('default_event_history', 'snapshot_dates.as_of_date') }}
        and default_event_history.event_date <= snapshot_dates.as_of_date
group by snapshot_dates.as_of_date, default_event_history.account_id
