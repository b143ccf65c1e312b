-- Roles: pipeline_writer writes ratings; bi_reader reads the ratings schema and nothing else.
-- Roles are cluster-wide: create them once, idempotently; grants are made per database.
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

-- BI: read-only on ratings (no raw, staging, marts, audit, quarantine, ratings_stage).
grant usage on schema ratings to bi_reader;
grant select on all tables in schema ratings to bi_reader;
alter default privileges in schema ratings grant select on tables to bi_reader;

-- Pipeline: reads the feature marts and labels, writes ratings and its staging area.
grant usage on schema marts to pipeline_writer;
grant select on all tables in schema marts to pipeline_writer;
alter default privileges in schema marts grant select on tables to pipeline_writer;
grant usage on schema ratings, ratings_stage to pipeline_writer;
grant select, insert, update, delete on all tables in schema ratings, ratings_stage to pipeline_writer;
alter default privileges in schema ratings, ratings_stage
    grant select, insert, update, delete on tables to pipeline_writer;
grant usage, select on all sequences in schema ratings to pipeline_writer;
alter default privileges in schema ratings grant usage, select on sequences to pipeline_writer;
