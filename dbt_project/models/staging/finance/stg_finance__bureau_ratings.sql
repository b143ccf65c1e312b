-- The latest version of each bureau rating: the open-ended version of its history.
{{ latest_from_history('stg_finance__bureau_rating_history', columns=[
    'rating_id', 'account_id', 'agency', 'rating', 'score', 'rating_date',
]) }}
