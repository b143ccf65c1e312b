{{
    config(
        alias=('customer_features_rerated' if is_rerate() else 'customer_features'),
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='fail',
        indexes=[
            {'columns': ['as_of_date']},
            {'columns': ['customer_id', 'as_of_date'], 'unique': true},
        ],
        post_hook=[
            "{{ prune_daily_snapshots(var('daily_snapshot_retention_days')) }}",
        ],
    )
}}

-- One row per rated customer and snapshot date, point in time: every input is the version of a
-- source row that stood at the end of as_of_date and had been created by then. A run replaces
-- the snapshot dates it builds (delete+insert keyed by as_of_date). Rated: an account whose status
-- is in var rated_account_statuses and that has not left the book after a default (final where).
-- The credit-event re-rating (var rerate) writes the same columns for its few accounts to
-- marts.customer_features_rerated.
with

accounts as (
    select * from {{ ref('int_accounts_snapshotted') }}
    where status in (
        {%- for status in var('rated_account_statuses') %}
            '{{ status }}'{{ ',' if not loop.last }}
        {%- endfor %}
    )
),

invoices as (
    select * from {{ ref('int_invoices_aggregated_to_accounts') }}
),

credit_limits as (
    select * from {{ ref('int_credit_limits_resolved') }}
),

bureau_ratings as (
    select * from {{ ref('int_bureau_ratings_resolved') }}
),

activities as (
    select * from {{ ref('int_activities_aggregated_to_accounts') }}
),

tickets as (
    select * from {{ ref('int_tickets_aggregated_to_accounts') }}
),

opportunities as (
    select * from {{ ref('int_opportunities_aggregated_to_accounts') }}
),

disputes as (
    select * from {{ ref('int_disputes_aggregated_to_accounts') }}
),

credit_notes as (
    select * from {{ ref('int_credit_notes_aggregated_to_accounts') }}
),

default_events as (
    select * from {{ ref('int_default_events_aggregated_to_accounts') }}
),

exposure as (
    select
        accounts.as_of_date,
        accounts.account_id,
        coalesce(invoices_now.open_receivables, 0) as open_receivables,
        limits_now.credit_limit_eur as credit_limit,
        coalesce(invoices_now.open_receivables, 0)
        / nullif(limits_now.credit_limit_eur, 0) as limit_utilisation,
        coalesce(invoices_3m_ago.open_receivables, 0)
        / nullif(limits_3m_ago.credit_limit_eur, 0) as limit_utilisation_3m_ago
    from accounts
    left join invoices as invoices_now
        on
            accounts.account_id = invoices_now.account_id
            and accounts.as_of_date = invoices_now.evaluation_date
    left join invoices as invoices_3m_ago
        on
            accounts.account_id = invoices_3m_ago.account_id
            and {{ months_before('accounts.as_of_date', 3) }} = invoices_3m_ago.evaluation_date
    left join credit_limits as limits_now
        on
            accounts.account_id = limits_now.account_id
            and accounts.as_of_date = limits_now.evaluation_date
    left join credit_limits as limits_3m_ago
        on
            accounts.account_id = limits_3m_ago.account_id
            and {{ months_before('accounts.as_of_date', 3) }} = limits_3m_ago.evaluation_date
)

select
    accounts.customer_id,
    accounts.as_of_date,
    -- payment behaviour
    coalesce(invoices.dpd_current, 0) as dpd_current,
    coalesce(invoices.max_dpd_3m, 0) as max_dpd_3m,
    coalesce(invoices.max_dpd_6m, 0) as max_dpd_6m,
    coalesce(invoices.max_dpd_12m, 0) as max_dpd_12m,
    round(
        invoices.invoices_due_late_12m::numeric / nullif(invoices.invoices_due_12m, 0), 6
    ) as share_paid_late_12m,
    round(invoices.avg_days_late_12m, 2) as avg_days_late_12m,
    case
        when exposure.open_receivables > 0
            then round(invoices.overdue_receivables / exposure.open_receivables, 6)
        else 0
    end as overdue_share_of_balance,
    -- exposure
    exposure.open_receivables,
    exposure.credit_limit,
    round(exposure.limit_utilisation, 6) as limit_utilisation,
    round(
        exposure.limit_utilisation - exposure.limit_utilisation_3m_ago, 6
    ) as utilisation_trend_3m,
    -- trading activity
    coalesce(invoices.invoice_count_3m, 0) as invoice_count_3m,
    coalesce(invoices.invoice_count_12m, 0) as invoice_count_12m,
    coalesce(invoices.invoice_amount_3m, 0) as invoice_amount_3m,
    coalesce(invoices.invoice_amount_12m, 0) as invoice_amount_12m,
    case
        when invoices.invoice_amount_12m > 0
            then round(
                (invoices.invoice_amount_3m / 3.0)
                / (invoices.invoice_amount_12m / 12.0),
                6
            )
    end as invoice_amount_trend,
    -- disputes and credit notes
    coalesce(disputes.dispute_count_12m, 0) as dispute_count_12m,
    coalesce(disputes.open_dispute_amount, 0) as open_dispute_amount,
    coalesce(credit_notes.credit_note_amount_12m, 0) as credit_note_amount_12m,
    -- CRM engagement
    coalesce(activities.activity_count_3m, 0) as activity_count_3m,
    round(
        activities.negative_outcome_count_6m::numeric / nullif(activities.activity_count_6m, 0), 6
    ) as negative_outcome_share_6m,
    accounts.as_of_date - activities.last_activity_date as days_since_last_contact,
    -- complaints
    coalesce(tickets.complaint_count_3m, 0) as complaint_count_3m,
    coalesce(tickets.complaint_count_12m, 0) as complaint_count_12m,
    coalesce(tickets.max_complaint_severity_6m, 0) as max_complaint_severity_6m,
    coalesce(tickets.open_ticket_count, 0) as open_ticket_count,
    -- customer profile
    accounts.tenure_months,
    accounts.industry,
    accounts.region,
    accounts.size_band,
    coalesce(opportunities.won_order_amount_12m, 0) as won_order_amount_12m,
    -- external bureau
    bureau_now.bureau_score,
    bureau_now.bureau_score - bureau_6m_ago.bureau_score as bureau_score_change_6m,
    -- default status
    case when default_events.has_default_12m then 1 else 0 end as in_default,
    default_events.last_default_date
from accounts
inner join exposure
    on
        accounts.account_id = exposure.account_id
        and accounts.as_of_date = exposure.as_of_date
left join invoices
    on
        accounts.account_id = invoices.account_id
        and accounts.as_of_date = invoices.evaluation_date
left join bureau_ratings as bureau_now
    on
        accounts.account_id = bureau_now.account_id
        and accounts.as_of_date = bureau_now.evaluation_date
left join bureau_ratings as bureau_6m_ago
    on
        accounts.account_id = bureau_6m_ago.account_id
        and {{ months_before('accounts.as_of_date', 6) }} = bureau_6m_ago.evaluation_date
left join activities
    on
        accounts.account_id = activities.account_id
        and accounts.as_of_date = activities.as_of_date
left join tickets
    on
        accounts.account_id = tickets.account_id
        and accounts.as_of_date = tickets.as_of_date
left join opportunities
    on
        accounts.account_id = opportunities.account_id
        and accounts.as_of_date = opportunities.as_of_date
left join disputes
    on
        accounts.account_id = disputes.account_id
        and accounts.as_of_date = disputes.as_of_date
left join credit_notes
    on
        accounts.account_id = credit_notes.account_id
        and accounts.as_of_date = credit_notes.as_of_date
left join default_events
    on
        accounts.account_id = default_events.account_id
        and accounts.as_of_date = default_events.as_of_date
-- left the book after a default: written off, or under a credit stop (limit 0) since its default
where
    not coalesce(default_events.has_exit_event, false)
    {%- if var('exit_on_credit_stop') %}
        and not (
            exposure.credit_limit = 0
            and default_events.last_default_date is not null
        )
    {%- endif %}
