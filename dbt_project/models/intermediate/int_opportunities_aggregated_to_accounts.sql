-- Won orders per account and snapshot date (stage as known at the date, closed in the window).
{{ account_totals_in_window(
    'stg_crm__opportunity_history',
    event_date='closed_date',
    months=12,
    count_as='won_order_count_12m',
    amount_as='won_order_amount_12m',
    where="stage = 'won'"
) }}
