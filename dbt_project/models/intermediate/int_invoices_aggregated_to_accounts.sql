-- Payment behaviour, exposure and trading activity per account and evaluation date, from the
-- invoice-level state in int_invoices_aged.
with

invoices_aged as (
    select * from {{ ref('int_invoices_aged') }}
),

dpd_reached as (
    select
        *,
        -- days past due reached by the invoice at the end of its unpaid period
        greatest(unpaid_until_date - due_date, 0) as dpd_reached
    from invoices_aged
)

select
    evaluation_date,
    account_id,
    bool_or(is_snapshot_date) as is_snapshot_date,
    coalesce(max(days_past_due), 0) as dpd_current,
    {%- for months in [3, 6, 12] %}
        coalesce(
            max(dpd_reached) filter (
                where unpaid_until_date > {{ months_before('evaluation_date', months) }}
            ),
            0
        ) as max_dpd_{{ months }}m,
    {%- endfor %}
    count(*) filter (
        where {{ in_months_window('due_date', 'evaluation_date', 12) }}
    ) as invoices_due_12m,
    count(*) filter (
        where
        {{ in_months_window('due_date', 'evaluation_date', 12) }}
        and (is_paid_late or (not is_settled and due_date < evaluation_date))
    ) as invoices_due_late_12m,
    round(
        avg(days_late) filter (
            where
            is_settled
            and {{ in_months_window('settled_date', 'evaluation_date', 12) }}
        ),
        2
    ) as avg_days_late_12m,
    sum(open_balance_eur) as open_receivables,
    coalesce(
        sum(open_balance_eur) filter (where due_date < evaluation_date), 0
    ) as overdue_receivables,
{%- for months in [3, 12] %}
    count(*) filter (
        where {{ in_months_window('issue_date', 'evaluation_date', months) }}
    ) as invoice_count_{{ months }}m,
    coalesce(
        sum(amount_eur) filter (
            where {{ in_months_window('issue_date', 'evaluation_date', months) }}
        ),
        0
    ) as invoice_amount_{{ months }}m{{ ',' if not loop.last }}
{%- endfor %}
from dpd_reached
group by evaluation_date, account_id
