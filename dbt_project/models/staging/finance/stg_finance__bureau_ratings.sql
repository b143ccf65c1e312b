-- The latest version of each row: the open-ended version of its history.
select
    rating_id,
    account_id,
    agency,
    rating,
    score,
    rating_date,
    created_at,
    updated_at,
    valid_from_date as last_changed_date
from {{ ref('stg_finance__bureau_rating_history') }}
where valid_to_date = date '9999-12-31'
