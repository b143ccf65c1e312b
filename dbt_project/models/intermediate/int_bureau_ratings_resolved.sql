-- The latest external bureau score known at each evaluation date (snapshot dates and 6 months
-- earlier), over all agencies: the scored rating with the latest rating_date on or before the date.
{{ latest_effective_per_account(
    'stg_finance__bureau_rating_history',
    effective_date='rating_date',
    key='rating_id',
    columns=['rating_id', 'agency', 'rating_date', 'score as bureau_score'],
    lags=[6],
    where='score is not null'
) }}
