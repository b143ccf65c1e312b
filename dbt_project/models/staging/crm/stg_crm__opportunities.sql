-- The latest version of each opportunity: the open-ended version of its history.
{{ latest_from_history('stg_crm__opportunity_history', columns=[
    'opportunity_id', 'account_id', 'amount', 'currency', 'amount_eur', 'stage', 'closed_at',
    'closed_date',
]) }}
