-- The credit desk (desk/): order-time credit checks, the review queue, limit overrides, API tokens and
-- the desk's audit trail, in a schema of its own. The service logs in as desk_service, which reads the
-- ratings contract (as a member of bi_reader) and writes only this schema. The audit log is
-- append-only for it: insert and select, never update or delete.
create schema if not exists desk;

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'desk_service') then
        -- login without a password: a deployment sets one (alter role desk_service password ...)
        create role desk_service login;
    end if;
end
$$;

-- Who may call the desk: one row per issued token; only a SHA-256 of the token is stored.
create table desk.api_tokens (
    token_id bigint generated always as identity primary key,
    user_name text not null,
    role text not null check (role in ('sales', 'credit_analyst', 'credit_manager', 'auditor')),
    token_sha256 text not null unique check (token_sha256 ~ '^[0-9a-f]{64}$'),
    created_at timestamptz not null default now(),
    revoked_at timestamptz
);

-- The account manager of each customer, as the CRM assigns them (a CRM sync or `python -m desk
-- managers` fills it); customers without one are owned by the credit team of their segment.
create table desk.account_managers (
    customer_id text primary key,
    manager text not null,
    updated_at timestamptz not null default now()
);

-- Exposure not yet in the ratings: open receivables and open orders per customer as of a date
-- (`python -m desk refresh-exposure` fills it from the feature mart; an ERP feed may write it too).
create table desk.customer_exposure (
    customer_id text primary key,
    as_of_date date not null,
    open_receivables numeric(18, 2) not null default 0 check (open_receivables >= 0),
    open_orders numeric(18, 2) not null default 0 check (open_orders >= 0),
    refreshed_at timestamptz not null default now()
);

-- Manual credit blocks: a customer with an open block fails every check.
create table desk.customer_blocks (
    block_id bigint generated always as identity primary key,
    customer_id text not null,
    reason text not null check (length(reason) > 0),
    created_by text not null,
    created_at timestamptz not null default now(),
    lifted_by text,
    lifted_at timestamptz,
    check ((lifted_by is null) = (lifted_at is null))
);
create unique index customer_blocks_one_open on desk.customer_blocks (customer_id) where lifted_at is null;

-- Every order-time credit check, with what it was decided from. A passed check (status open) and a
-- referred one an analyst released (status approved) count as exposure until the exposure snapshot
-- moves past the check's day (the order is invoiced by then) or the check is closed (invoiced or
-- cancelled); a rejected referral never counts.
create table desk.credit_checks (
    check_id bigint generated always as identity primary key,
    customer_id text not null,
    order_ref text,
    amount numeric(18, 2) not null check (amount > 0),
    currency text not null,
    amount_eur numeric(18, 2) not null check (amount_eur > 0),
    outcome text not null check (outcome in ('pass', 'refer', 'block')),
    reasons text [] not null,
    rating_as_of date,
    rating_grade text,
    pd_12m double precision,
    credit_limit numeric(18, 2),
    exposure_eur numeric(18, 2) not null,
    requested_by text not null,
    created_at timestamptz not null default now(),
    status text not null default 'open' check (status in ('open', 'approved', 'rejected', 'closed'))
);
create index credit_checks_customer_idx on desk.credit_checks (customer_id, created_at);

-- The review queue: one case per source event (source_key makes the sync idempotent).
create table desk.cases (
    case_id bigint generated always as identity primary key,
    customer_id text not null,
    source text not null check (source in ('decision', 'warning', 'check')),
    source_key text not null unique,
    title text not null,
    owner text not null,
    due_date date not null,
    status text not null default 'open' check (status in ('open', 'closed')),
    opened_at timestamptz not null default now(),
    closed_at timestamptz,
    closed_by text,
    outcome text,
    reason_code text,
    note text,
    check ((status = 'closed') = (closed_at is not null and outcome is not null and reason_code is not null))
);
create index cases_open_idx on desk.cases (status, due_date);
create index cases_customer_idx on desk.cases (customer_id);

-- Limit overrides decided on cases. Above the configured amount an override waits for a second
-- approver (never the requester); an active override replaces the recommended limit in every publish
-- of a date in [valid_from, expires_on) (ratings.overrides reads it).
create table desk.limit_overrides (
    override_id bigint generated always as identity primary key,
    customer_id text not null,
    case_id bigint references desk.cases (case_id),
    override_limit numeric(18, 2) not null check (override_limit >= 0),
    recommended_limit numeric(18, 2),
    rating_grade text,
    reason text not null check (length(reason) > 0),
    valid_from date not null,
    expires_on date not null,
    requested_by text not null,
    approved_by text,
    status text not null check (status in ('pending_approval', 'active', 'rejected')),
    created_at timestamptz not null default now(),
    decided_at timestamptz,
    check (expires_on > valid_from),
    check (approved_by is null or approved_by <> requested_by)
);
create index limit_overrides_customer_idx on desk.limit_overrides (customer_id, valid_from);

-- Who did what, when and why, for every request the desk served or refused.
create table desk.audit_log (
    audit_id bigint generated always as identity primary key,
    at timestamptz not null default now(),
    actor text not null,
    role text,
    action text not null,
    target text,
    why text,
    outcome text not null,
    detail jsonb not null default '{}'
);
create index audit_log_at_idx on desk.audit_log (at);

-- desk_service: reads the ratings contract, writes only desk.* (audit append-only, no deletes).
grant bi_reader to desk_service;
grant usage on schema desk to desk_service;
grant select, insert, update on all tables in schema desk to desk_service;
revoke update on desk.audit_log from desk_service;
grant usage, select on all sequences in schema desk to desk_service;

-- The publish step reads the overrides (ratings.overrides); nothing else of the desk.
grant usage on schema desk to pipeline_writer;
grant select on desk.limit_overrides to pipeline_writer;

-- Monitoring: overrides by grade of the latest ratings (BI reads it with the rest of ratings.*).
create view ratings.override_rate_by_grade as
with active as (
    select distinct o.customer_id
    from desk.limit_overrides as o
    where
        o.status = 'active'
        and o.valid_from <= current_date
        and o.expires_on > current_date
),

overrides_ever as (
    select
        o.rating_grade,
        count(*) as overrides_decided
    from desk.limit_overrides as o
    where o.status = 'active'
    group by o.rating_grade
)

select
    r.rating_grade,
    count(*) as customers,
    count(a.customer_id) as customers_with_active_override,
    count(a.customer_id)::double precision / count(*) as override_rate,
    coalesce(max(e.overrides_decided), 0) as overrides_approved_total
from ratings.current_customer_ratings as r
left join active as a on r.customer_id = a.customer_id
left join overrides_ever as e on r.rating_grade = e.rating_grade
group by r.rating_grade;

comment on view ratings.override_rate_by_grade is
'Per grade of the latest ratings: customers, those with an active limit override, the override rate, and overrides approved at that grade.';

revoke insert, update, delete, truncate, references, trigger on ratings.override_rate_by_grade
from pipeline_writer;
