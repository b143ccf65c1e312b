-- The latest external bureau score known at each evaluation date (snapshot dates and 6 months
-- earlier), over all agencies: the scored rating with the latest rating_date on or before the date;
-- ties go to the latest created_at, then the highest rating_id.
with

evaluation_dates as (
    select as_of_date as evaluation_date
    from {{ ref('int_snapshot_dates_selected') }}
    union
    select {{ months_before('as_of_date', 6) }} as evaluation_date
    from {{ ref('int_snapshot_dates_selected') }}
),

bureau_rating_history as (
    select * from {{ ref('stg_finance__bureau_rating_history') }}
    where score is not null {{ rerated_accounts_only(keyword='and') }}
)

select distinct on (evaluation_dates.evaluation_date, bureau_rating_history.account_id)
    evaluation_dates.evaluation_date,
    bureau_rating_history.account_id,
    bureau_rating_history.rating_id,
    bureau_rating_history.agency,
    bureau_rating_history.rating_date,
    bureau_rating_history.score as bureau_score
from evaluation_dates
inner join bureau_rating_history
    on
        {{ known_at('bureau_rating_history', 'evaluation_dates.evaluation_date') }}
        and bureau_rating_history.rating_date <= evaluation_dates.evaluation_date
order by
    evaluation_dates.evaluation_date asc,
    bureau_rating_history.account_id asc,
    bureau_rating_history.rating_date desc,
    bureau_rating_history.created_at desc,
    bureau_rating_history.rating_id desc
