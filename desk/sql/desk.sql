-- The credit desk's statements. Every value is a bound parameter (%(name)s); no identifier is ever
-- composed from input.

-- name: token_principal
select t.user_name, t.role
from desk.api_tokens as t
where t.token_sha256 = %(hash)s and t.revoked_at is null;

-- name: insert_token
insert into desk.api_tokens (user_name, role, token_sha256)
values (%(user)s, %(role)s, %(hash)s);

-- name: revoke_tokens
update desk.api_tokens set revoked_at = now()
where user_name = %(user)s and revoked_at is null;

-- name: insert_audit
insert into desk.audit_log (actor, role, action, target, why, outcome, detail)
values (%(actor)s, %(role)s, %(action)s, %(target)s, %(why)s, %(outcome)s, %(detail)s::jsonb);

-- name: check_lock
-- Taken first, as a statement of its own: checks of one customer run one at a time (until commit),
-- so two orders cannot both pass on the same headroom; check_facts, the next statement, reads with a
-- snapshot taken after the lock (and so sees the check that held it).
select pg_advisory_xact_lock(4171019, hashtext(%(c)s));

-- name: check_facts
-- Everything a credit check decides from, in one statement (sent with check_lock in one round trip):
-- the customer's latest rating version (and the last rated date it holds on), the override holding
-- today, exposure, warnings and blocks.
with v as (
    select *
    from ratings.customer_rating_versions
    where customer_id = %(c)s
    order by valid_from_date desc
    limit 1
),

latest as (select max(as_of_date) as d from ratings.rated_dates)

select
    v.customer_id,
    case
        when v.valid_to_date > latest.d then latest.d
        else (select max(r.as_of_date) from ratings.rated_dates as r where r.as_of_date < v.valid_to_date)
    end as rating_as_of,
    v.rating_grade,
    v.pd_12m,
    v.decision,
    v.current_credit_limit,
    v.recommended_credit_limit,
    (
        select o.override_limit
        from desk.limit_overrides as o
        where
            o.customer_id = v.customer_id and o.status = 'active'
            and o.valid_from <= current_date and o.expires_on > current_date
        order by o.created_at desc, o.override_id desc
        limit 1
    ) as override_limit,
    coalesce(e.open_receivables, 0) as open_receivables,
    coalesce(e.open_orders, 0) as open_orders,
    (
        select coalesce(sum(c.amount_eur), 0)
        from desk.credit_checks as c
        where
            c.customer_id = v.customer_id
            and ((c.outcome = 'pass' and c.status = 'open') or c.status = 'approved')
            and c.created_at >= coalesce(e.as_of_date + 1, '-infinity'::date)
    ) as pending_checks,
    (
        select coalesce(array_agg(w.message order by w.first_seen_date), '{}')
        from ratings.credit_warnings as w
        where w.customer_id = v.customer_id and w.status = 'open' and w.severity = 'critical'
    ) as critical_warnings,
    (
        select b.reason from desk.customer_blocks as b
        where b.customer_id = v.customer_id and b.lifted_at is null
    ) as block_reason,
    v.risk_segment
from v
cross join latest
left join desk.customer_exposure as e on v.customer_id = e.customer_id;

-- name: record_check
-- The check, its case when referred (owner: the CRM's account manager, else the segment's credit team;
-- due: the segment's review frequency capped for checks) and its audit row, in one statement.
with chk as (
    insert into desk.credit_checks (
        customer_id, order_ref, amount, currency, amount_eur, outcome, reasons, rating_as_of, rating_grade,
        pd_12m, credit_limit, exposure_eur, requested_by
    )
    values (
        %(customer_id)s, %(order_ref)s, %(amount)s, %(currency)s, %(amount_eur)s, %(outcome)s, %(reasons)s,
        %(rating_as_of)s, %(rating_grade)s, %(pd_12m)s, %(credit_limit)s, %(exposure_eur)s, %(requested_by)s
    )
    returning check_id, created_at
),

case_owner as (
    select
        coalesce(m.manager, %(teams)s::jsonb ->> %(segment)s, %(default_team)s) as owner,
        least(
            (current_date + make_interval(months => coalesce(s.review_frequency_months, 1)))::date,
            current_date + %(max_days)s::integer
        ) as due_date
    from (select 1) as one
    left join desk.account_managers as m on m.customer_id = %(customer_id)s
    left join ratings.risk_segments as s on s.risk_segment = %(segment)s
),

referred as (
    insert into desk.cases (customer_id, source, source_key, title, owner, due_date)
    select
        %(customer_id)s,
        'check',
        'check:' || chk.check_id,
        'Referred order ' || coalesce(%(order_ref)s, chk.check_id::text) || ': ' || %(case_title)s,
        o.owner,
        o.due_date
    from chk cross join case_owner as o
    where %(refer)s
    returning case_id
),

audited as (
    insert into desk.audit_log (actor, role, action, target, why, outcome, detail)
    select
        %(requested_by)s,
        %(role)s,
        'check.create',
        'check:' || chk.check_id,
        %(order_ref)s,
        %(outcome)s,
        %(detail)s::jsonb || jsonb_build_object('case_id', (select r.case_id from referred as r))
    from chk
)

select
    chk.check_id,
    chk.created_at,
    (select r.case_id from referred as r) as case_id
from chk;

-- name: sync_decision_cases
-- A case for each customer whose latest rating decides review or hold, unless one is already open
-- for that customer; keyed by the version, so a rerun opens nothing twice.
insert into desk.cases (customer_id, source, source_key, title, owner, due_date)
select
    v.customer_id,
    'decision',
    'decision:' || v.customer_id || ':' || v.valid_from_date,
    'Credit decision ' || v.decision || ' at grade ' || v.rating_grade || ': ' || v.decision_rationale,
    coalesce(m.manager, %(teams)s::jsonb ->> v.risk_segment, %(default_team)s),
    least(
        (current_date + make_interval(months => coalesce(s.review_frequency_months, 1)))::date,
        current_date + %(max_days)s::integer
    )
from ratings.customer_rating_versions as v
left join desk.account_managers as m on v.customer_id = m.customer_id
left join ratings.risk_segments as s on v.risk_segment = s.risk_segment
where
    v.valid_to_date = '9999-12-31'
    and v.decision = any(%(decisions)s)
    and not exists (
        select 1 from desk.cases as c
        where c.customer_id = v.customer_id and c.source = 'decision' and c.status = 'open'
    )
on conflict (source_key) do nothing;

-- name: sync_warning_cases
-- A case for each open warning episode of the configured severities (one per episode).
insert into desk.cases (customer_id, source, source_key, title, owner, due_date)
select
    w.customer_id,
    'warning',
    'warning:' || w.warning_id,
    'Early warning (' || w.severity || ') ' || w.rule_code || ': ' || w.message,
    coalesce(m.manager, %(teams)s::jsonb ->> v.risk_segment, %(default_team)s),
    least(
        (current_date + make_interval(months => coalesce(s.review_frequency_months, 1)))::date,
        current_date + %(max_days)s::integer
    )
from ratings.credit_warnings as w
left join lateral (
    select x.risk_segment from ratings.customer_rating_versions as x
    where x.customer_id = w.customer_id
    order by x.valid_from_date desc
    limit 1
) as v on true
left join desk.account_managers as m on w.customer_id = m.customer_id
left join ratings.risk_segments as s on v.risk_segment = s.risk_segment
where w.status = 'open' and w.severity = any(%(severities)s)
on conflict (source_key) do nothing;

-- name: list_cases
select
    c.case_id, c.customer_id, c.source, c.title, c.owner, c.due_date, c.status, c.opened_at,
    c.closed_at, c.closed_by, c.outcome, c.reason_code, c.note
from desk.cases as c
where
    (%(status)s::text is null or c.status = %(status)s)
    and (%(owner)s::text is null or c.owner = %(owner)s)
    and (%(c)s::text is null or c.customer_id = %(c)s)
order by c.status desc, c.due_date asc, c.case_id asc
limit %(limit)s;

-- name: case_for_update
select c.case_id, c.customer_id, c.source, c.source_key, c.status
from desk.cases as c
where c.case_id = %(id)s
for update;

-- name: close_case
update desk.cases
set status = 'closed', closed_at = now(), closed_by = %(user)s, outcome = %(outcome)s,
    reason_code = %(reason_code)s, note = %(note)s
where case_id = %(id)s and status = 'open';

-- name: latest_version
select v.rating_grade, v.recommended_credit_limit, v.risk_segment
from ratings.customer_rating_versions as v
where v.customer_id = %(c)s
order by v.valid_from_date desc
limit 1;

-- name: insert_override
insert into desk.limit_overrides (
    customer_id, case_id, override_limit, recommended_limit, rating_grade, reason, valid_from,
    expires_on, requested_by, approved_by, status, decided_at
)
values (
    %(c)s, %(case_id)s, %(limit)s, %(recommended)s, %(grade)s, %(reason)s, current_date,
    %(expires)s, %(user)s, null, %(status)s, case when %(status)s = 'active' then now() end
)
returning override_id, status;

-- name: override_for_update
select o.override_id, o.customer_id, o.status, o.requested_by, o.override_limit
from desk.limit_overrides as o
where o.override_id = %(id)s
for update;

-- name: decide_override
update desk.limit_overrides
set status = %(status)s, approved_by = %(user)s, decided_at = now()
where override_id = %(id)s and status = 'pending_approval';

-- name: insert_block
insert into desk.customer_blocks (customer_id, reason, created_by)
values (%(c)s, %(reason)s, %(user)s)
on conflict (customer_id) where lifted_at is null do nothing;

-- name: lift_block
update desk.customer_blocks set lifted_by = %(user)s, lifted_at = now()
where customer_id = %(c)s and lifted_at is null;

-- name: set_check_status
-- A referred order released or rejected on its case, or a check closed once invoiced or cancelled.
update desk.credit_checks set status = %(status)s
where check_id = %(id)s and status in ('open', 'approved')
returning customer_id;

-- name: list_checks
select
    c.check_id, c.customer_id, c.order_ref, c.amount, c.currency, c.amount_eur, c.outcome, c.reasons,
    c.rating_grade, c.credit_limit, c.exposure_eur, c.requested_by, c.created_at, c.status
from desk.credit_checks as c
where c.customer_id = %(c)s
order by c.created_at desc
limit %(limit)s;

-- name: list_audit
select a.audit_id, a.at, a.actor, a.role, a.action, a.target, a.why, a.outcome, a.detail
from desk.audit_log as a
where (%(actor)s::text is null or a.actor = %(actor)s)
order by a.audit_id desc
limit %(limit)s;

-- name: rating_history
select
    v.valid_from_date, v.valid_to_date, v.pd_12m, v.rating_grade, v.score, v.risk_segment,
    v.current_credit_limit, v.recommended_credit_limit, v.decision, v.decision_rationale, v.reason_codes,
    v.model_version
from ratings.customer_rating_versions as v
where v.customer_id = %(c)s
order by v.valid_from_date asc;

-- name: customer_warnings
select
    w.rule_code, w.severity, w.message, w.metric_value, w.threshold, w.first_seen_date,
    w.last_seen_date, w.status
from ratings.credit_warnings as w
where w.customer_id = %(c)s
order by w.status asc, w.first_seen_date desc;

-- name: customer_overrides
select
    o.override_id, o.override_limit, o.recommended_limit, o.reason, o.valid_from, o.expires_on,
    o.requested_by, o.approved_by, o.status
from desk.limit_overrides as o
where o.customer_id = %(c)s
order by o.created_at desc;

-- name: customer_exposure
select e.as_of_date, e.open_receivables, e.open_orders
from desk.customer_exposure as e
where e.customer_id = %(c)s;

-- name: upsert_managers
-- The account managers of a CRM export (desk.service.load_managers): one statement for the whole file.
-- Parameters: %(customers)s and %(managers)s, arrays of the same length.
insert into desk.account_managers (customer_id, manager, updated_at)
select customer_id, manager, now()
from unnest(%(customers)s::text [], %(managers)s::text []) as f (customer_id, manager)
on conflict (customer_id) do update set manager = excluded.manager, updated_at = excluded.updated_at
where desk.account_managers.manager is distinct from excluded.manager;
