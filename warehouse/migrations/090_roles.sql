-- Roles: pipeline_writer writes ratings; bi_reader reads the ratings schema and nothing else (no raw,
-- quarantine, staging, intermediate, marts, audit or ratings_stage). Roles are cluster-wide: created
-- once, idempotently; grants are made per database. Last in the baseline, so that the grants on all
-- tables cover every relation above; the default privileges cover the relations later migrations and
-- dbt create (as the role that ran the migrations).
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'pipeline_writer') then
        create role pipeline_writer nologin;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'bi_reader') then
        create role bi_reader nologin;
    end if;
end
$$;

-- BI: read-only on ratings.
grant usage on schema ratings to bi_reader;
grant select on all tables in schema ratings to bi_reader;
alter default privileges in schema ratings grant select on tables to bi_reader;

-- Pipeline: reads the feature marts and labels, writes the ratings tables and its staging area; the
-- views over them are read-only.
grant usage on schema marts to pipeline_writer;
grant select on all tables in schema marts to pipeline_writer;
alter default privileges in schema marts grant select on tables to pipeline_writer;
grant usage on schema ratings, ratings_stage to pipeline_writer;
grant select, insert, update, delete on all tables in schema ratings, ratings_stage to pipeline_writer;
alter default privileges in schema ratings, ratings_stage
grant select, insert, update, delete on tables to pipeline_writer;
grant usage, select on all sequences in schema ratings to pipeline_writer;
alter default privileges in schema ratings grant usage, select on sequences to pipeline_writer;
revoke insert, update, delete, truncate, references, trigger
on ratings.customer_ratings, ratings.current_customer_ratings, ratings.open_credit_warnings,
ratings.grade_migration_monthly, ratings.data_quality_results
from pipeline_writer;
