-- The latest external bureau score known at each evaluation date (snapshot dates and 6 months
-- earlier), over all agencies.
with

evaluation_dates as (
    {{ evaluation_dates([6]) }}
),

bureau_rating_history as (
    select * from {{ ref('stg_finance__bureau_rating_history') }}
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
where bureau_rating_history.score is not null
order by
    evaluation_dates.evaluation_date asc,
    bureau_rating_history.account_id asc,
    bureau_rating_history.rating_date desc,
    bureau_rating_history.created_at desc,
    bureau_rating_history.rating_id desc
