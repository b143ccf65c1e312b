-- The latest version of each row: the open-ended version of its history.
select
    account_id,
    industry,
    region,
    size_band,
    status,
    created_date,
    created_at,
    updated_at,
    valid_from_date as last_changed_date
from {{ ref('stg_crm__account_history') }}
where valid_to_date = date '9999-12-31'
