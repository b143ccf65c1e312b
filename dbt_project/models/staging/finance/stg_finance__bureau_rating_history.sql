-- Day-end versions of each external bureau rating.
{{ versioned_history('raw_finance', 'bureau_ratings', key='rating_id', columns={
    'rating_id': 'rating_id',
    'account_id': 'customer_id',
    'agency': 'agency',
    'rating': 'rating',
    'score': 'score',
    'rating_date': 'rating_date',
}) }}
