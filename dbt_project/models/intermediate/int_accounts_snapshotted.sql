-- Every account known at each snapshot date, with the attributes of its version at that date and
-- its pseudonymous customer_id.
with

snapshot_dates as (
    select * from {{ ref('int_snapshot_dates_selected') }}
),

account_history as (
    select * from {{ ref('stg_crm__account_history') }} {{ rerated_accounts_only() }}
)

select
    snapshot_dates.as_of_date,
    account_history.account_id,
    {{ pseudonymise('account_history.account_id') }} as customer_id,
    account_history.status,
    account_history.status = 'active' as is_active,
    account_history.industry,
    account_history.region,
    account_history.size_band,
    account_history.known_since_date as account_known_since_date,
    cast(
        extract(
            year from age(
                snapshot_dates.as_of_date, account_history.known_since_date
            )
        ) * 12
        + extract(
            month from age(
                snapshot_dates.as_of_date, account_history.known_since_date
            )
        )
        as integer
    ) as tenure_months
from snapshot_dates
inner join account_history
    on {{ known_at('account_history', 'snapshot_dates.as_of_date') }}
