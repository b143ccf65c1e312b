-- A view: int_invoices_aggregated_to_accounts reads it once, so the invoice x date rows of a
-- history build are streamed into the aggregation rather than written.
{{ config(materialized='view') }}

-- Invoice-level payment behaviour as of each evaluation date (the snapshot dates and the same
-- dates 3 months earlier): what was paid or credited by then, the open balance, days past due,
-- and whether and how late the invoice was settled. Only invoices that matter for a 12-month
-- window or are still open are kept (a paid invoice unchanged for 12 months is dropped early).
with

-- the snapshot dates, and the dates 3 months earlier that only feed the utilisation trend: for
-- those only the open balance is needed, so paid invoices (open balance 0) are left out there
evaluation_dates as (
    select
        evaluation_date,
        bool_or(is_snapshot_date) as is_snapshot_date
    from (
        select
            as_of_date as evaluation_date,
            true as is_snapshot_date
        from {{ ref('int_snapshot_dates_selected') }}
        union all
        select
            {{ months_before('as_of_date', 3) }} as evaluation_date,
            false as is_snapshot_date
        from {{ ref('int_snapshot_dates_selected') }}
    ) as dates
    group by evaluation_date
),

invoice_history as (
    select * from {{ ref('stg_finance__invoice_history') }} {{ rerated_accounts_only() }}
),

payment_history as (
    select * from {{ ref('stg_finance__payment_history') }}
),

credit_note_history as (
    select * from {{ ref('stg_finance__credit_note_history') }} {{ rerated_accounts_only() }}
),

invoices as (
    select
        evaluation_dates.evaluation_date,
        evaluation_dates.is_snapshot_date,
        invoice_history.invoice_id,
        invoice_history.account_id,
        invoice_history.issue_date,
        invoice_history.due_date,
        invoice_history.amount_eur,
        invoice_history.status
    from evaluation_dates
    inner join invoice_history
        on
            {{ known_at('invoice_history', 'evaluation_dates.evaluation_date') }}
            and invoice_history.issue_date <= evaluation_dates.evaluation_date
    where
        invoice_history.status != 'cancelled'
        and (evaluation_dates.is_snapshot_date or invoice_history.status != 'paid')
        -- paid and unchanged for 12 months: outside every window (keeps history builds small)
        and not (
            invoice_history.status = 'paid'
            and invoice_history.valid_from_date
            <= {{ months_before('evaluation_dates.evaluation_date', 12) }}
        )
),

-- payments and credit notes are looked up per kept invoice: no date x payments product
payments as (
    select
        invoices.evaluation_date,
        invoices.invoice_id,
        sum(payment_history.amount_eur) as paid_amount_eur,
        max(payment_history.payment_date) as last_payment_date
    from invoices
    inner join payment_history
        on
            invoices.invoice_id = payment_history.invoice_id
            and {{ known_at('payment_history', 'invoices.evaluation_date') }}
            and payment_history.payment_date <= invoices.evaluation_date
    group by invoices.evaluation_date, invoices.invoice_id
),

credit_notes as (
    select
        invoices.evaluation_date,
        invoices.invoice_id,
        sum(credit_note_history.amount_eur) as credited_amount_eur,
        max(credit_note_history.issue_date) as last_credit_note_date
    from invoices
    inner join credit_note_history
        on
            invoices.invoice_id = credit_note_history.invoice_id
            and {{ known_at('credit_note_history', 'invoices.evaluation_date') }}
            and credit_note_history.issue_date <= invoices.evaluation_date
    group by invoices.evaluation_date, invoices.invoice_id
),

balances as (
    select
        invoices.*,
        coalesce(payments.paid_amount_eur, 0) as paid_amount_eur,
        coalesce(credit_notes.credited_amount_eur, 0) as credited_amount_eur,
        -- an invoice settled in full in its own currency can leave a cent or two after each row
        -- is converted to EUR: a balance under 0.05 EUR is settled, not an item that ages for ever
        case
            when invoices.status = 'paid' then 0
            when
                invoices.amount_eur
                - coalesce(payments.paid_amount_eur, 0)
                - coalesce(credit_notes.credited_amount_eur, 0)
                < 0.05
                then 0
            else
                invoices.amount_eur
                - coalesce(payments.paid_amount_eur, 0)
                - coalesce(credit_notes.credited_amount_eur, 0)
        end as open_balance_eur,
        greatest(
            payments.last_payment_date, credit_notes.last_credit_note_date
        ) as last_settlement_date
    from invoices
    left join payments
        on
            invoices.evaluation_date = payments.evaluation_date
            and invoices.invoice_id = payments.invoice_id
    left join credit_notes
        on
            invoices.evaluation_date = credit_notes.evaluation_date
            and invoices.invoice_id = credit_notes.invoice_id
),

aged as (
    select
        evaluation_date,
        is_snapshot_date,
        invoice_id,
        account_id,
        issue_date,
        due_date,
        amount_eur,
        status,
        paid_amount_eur,
        credited_amount_eur,
        open_balance_eur,
        open_balance_eur = 0 as is_settled,
        case
            when open_balance_eur = 0 then last_settlement_date
        end as settled_date,
        case
            when open_balance_eur > 0 and due_date < evaluation_date
                then evaluation_date - due_date
            else 0
        end as days_past_due
    from balances
)

select
    evaluation_date,
    is_snapshot_date,
    invoice_id,
    account_id,
    issue_date,
    due_date,
    amount_eur,
    status,
    paid_amount_eur,
    credited_amount_eur,
    open_balance_eur,
    is_settled,
    settled_date,
    days_past_due,
    coalesce(is_settled and settled_date > due_date, false) as is_paid_late,
    case
        when is_settled and settled_date is null then null
        when is_settled then greatest(settled_date - due_date, 0)
        else days_past_due
    end as days_late,
    -- last day the invoice counted as unpaid: settlement date, or the evaluation date if open
    case
        when is_settled then settled_date else evaluation_date
    end as unpaid_until_date
from aged
where
    not is_settled
    or greatest(issue_date, due_date, settled_date)
    > {{ months_before('evaluation_date', 12) }}
