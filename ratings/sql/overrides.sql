-- Limit overrides decided on the credit desk (desk.limit_overrides): the override wins over the
-- recommended limit on every rated date in [valid_from, expires_on). The latest active override of a
-- customer applies when several overlap.

-- name: active_overrides
select distinct on (o.customer_id)
    o.customer_id,
    o.override_id,
    o.override_limit,
    o.valid_from,
    o.expires_on
from desk.limit_overrides as o
where
    o.status = 'active'
    and o.valid_from <= %(d)s
    and o.expires_on > %(d)s
order by o.customer_id asc, o.created_at desc, o.override_id desc;

-- name: apply_to_stage
-- The staged rows of one run take the override as their recommended limit, and the rationale says so.
update ratings_stage.customer_ratings as s
set
    recommended_credit_limit = o.override_limit,
    decision_rationale = s.decision_rationale
    || ' Recommended limit overridden on the credit desk (override '
    || o.override_id || ', ' || o.override_limit || ' EUR until ' || o.expires_on || ').'
from (
    select distinct on (x.customer_id)
        x.customer_id,
        x.override_id,
        x.override_limit,
        x.expires_on
    from desk.limit_overrides as x
    where
        x.status = 'active'
        and x.valid_from <= %(d)s
        and x.expires_on > %(d)s
    order by x.customer_id asc, x.created_at desc, x.override_id desc
) as o
where
    s.run_id = %(run)s
    and s.as_of_date = %(d)s
    and s.customer_id = o.customer_id;
