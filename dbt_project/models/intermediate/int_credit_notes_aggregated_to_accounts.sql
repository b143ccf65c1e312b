-- Credit notes issued per account and snapshot date over the last 12 months.
{{ account_totals_in_window(
    'stg_finance__credit_note_history',
    event_date='issue_date',
    months=12,
    count_as='credit_note_count_12m',
    amount_as='credit_note_amount_12m'
) }}
