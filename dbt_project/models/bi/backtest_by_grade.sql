-- The back-test of model_monitoring.backtest as rows: per matured rated date (cohort) and
-- performing grade, the realised default rate against the mean PD and the Jeffreys test's verdict.
with

model_monitoring as (
    select * from {{ source('ratings', 'model_monitoring') }}
)

select
    m.as_of_date as cohort_date,
    m.model_name,
    m.model_version,
    g.key as rating_grade,
    (g.value ->> 'customers')::bigint as customers,
    (g.value ->> 'defaults')::bigint as defaults,
    (g.value ->> 'default_rate')::double precision as default_rate,
    (g.value ->> 'mean_pd')::double precision as mean_pd,
    (g.value ->> 'p_value')::double precision as p_value,
    g.value ->> 'verdict' as verdict
from model_monitoring as m
cross join lateral jsonb_each(m.backtest -> 'grades') as g
where m.backtest is not null
