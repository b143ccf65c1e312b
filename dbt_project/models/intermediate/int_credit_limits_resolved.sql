-- The credit limit valid at each evaluation date (snapshot dates and 3 months earlier): the known
-- limit with the latest valid_from on or before the date; ties go to the latest created_at, then
-- the highest limit_id.
with

evaluation_dates as (
    select as_of_date as evaluation_date
    from {{ ref('int_snapshot_dates_selected') }}
    union
    select {{ months_before('as_of_date', 3) }} as evaluation_date
    from {{ ref('int_snapshot_dates_selected') }}
),

credit_limit_history as (
    select * from {{ ref('stg_finance__credit_limit_history') }} {{ rerated_accounts_only() }}
)

select distinct on (evaluation_dates.evaluation_date, credit_limit_history.account_id)
    evaluation_dates.evaluation_date,
    credit_limit_history.account_id,
    credit_limit_history.limit_id,
    credit_limit_history.valid_from,
    credit_limit_history.credit_limit_eur
from evaluation_dates
inner join credit_limit_history
    on
        {{ known_at('credit_limit_history', 'evaluation_dates.evaluation_date') }}
        and credit_limit_history.valid_from <= evaluation_dates.evaluation_date
order by
    evaluation_dates.evaluation_date asc,
    credit_limit_history.account_id asc,
    credit_limit_history.valid_from desc,
    credit_limit_history.created_at desc,
    credit_limit_history.limit_id desc
