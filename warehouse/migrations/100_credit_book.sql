-- A credit book a credit manager believes (docs/ratings.md, docs/bi.md):
-- * model_monitoring reports the default share and the new defaults of a rated date beside the PSI,
--   which is computed over the performing grades only;
-- * a warning episode that already held on the first rated date opens as 'initial' (counted, never
--   mailed one by one); later episodes open as 'new';
-- * audit.alert_deliveries records each alert delivered, so a rerun or backfill never sends one twice;
-- * ratings.reason_codes holds the reason dictionary, and current_customer_ratings shows the texts.

alter table ratings.model_monitoring
    add column if not exists default_share double precision,
    add column if not exists defaults_rated bigint,
    add column if not exists new_defaults bigint;

comment on column ratings.model_monitoring.psi is
'PSI of the performing-grade distribution against training (grade D excluded on both sides).';
comment on column ratings.model_monitoring.default_share is
'Share of the rated customers in grade D on this date (not part of the PSI).';
comment on column ratings.model_monitoring.new_defaults is
'Customers rated D on this date who were not rated D on the rated date before.';

alter table ratings.credit_warnings
    add column if not exists opened_as text not null default 'new'
    check (opened_as in ('new', 'initial'));

comment on column ratings.credit_warnings.opened_as is
'initial: the condition already held on the first rated date (reported as a count, not alerted); new: it began later.';

create table if not exists audit.alert_deliveries (
    delivery_id bigint generated always as identity primary key,
    warning_id bigint not null,
    channel text not null,
    as_of_date date not null,
    recipients text not null,
    subject text not null,
    run_id text,
    delivered_at timestamptz not null default now(),
    unique (warning_id, channel)
);

comment on table audit.alert_deliveries is
'One row per warning episode and channel whose alert was delivered: a rerun or backfill never sends it twice.';

create table if not exists ratings.reason_codes (
    reason_code text primary key,
    reason_text text not null,
    feature text not null,
    direction text not null check (direction in ('increases_risk', 'decreases_risk')),
    version text not null,
    published_at timestamptz not null default now()
);

comment on table ratings.reason_codes is
'The reason dictionary (config/reason_codes.yml): what each code on a rating means, in words.';

create or replace view ratings.current_customer_ratings as
with latest as (select max(as_of_date) as as_of_date from ratings.rated_dates)

select
    v.customer_id,
    r.as_of_date,
    v.pd_12m,
    v.score,
    v.rating_grade,
    v.risk_segment,
    v.current_credit_limit,
    v.recommended_credit_limit,
    v.decision,
    v.decision_rationale,
    v.reason_codes,
    v.model_name,
    v.model_version,
    v.run_id,
    v.scored_at,
    s.review_frequency_months,
    (r.as_of_date + make_interval(months => s.review_frequency_months))::date as next_review_date,
    array(
        select coalesce(rc.reason_text, u.code)
        from unnest(v.reason_codes) with ordinality as u (code, n)
        left join ratings.reason_codes as rc on u.code = rc.reason_code
        order by u.n
    ) as reason_texts
from (
    select distinct on (customer_id) *
    from ratings.customer_rating_versions
    order by customer_id desc, valid_from_date desc
) as v
cross join latest
cross join
    lateral (
        select
            case
                when v.valid_to_date > latest.as_of_date then latest.as_of_date
                else
                    (
                        select max(d.as_of_date) from ratings.rated_dates as d
                        where d.as_of_date < v.valid_to_date
                    )
            end as as_of_date
    ) as r
left join ratings.risk_segments as s on v.risk_segment = s.risk_segment;

comment on column ratings.current_customer_ratings.reason_texts is
'The texts of reason_codes, same order (ratings.reason_codes).';
