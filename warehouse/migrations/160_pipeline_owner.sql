-- Least privilege at run time. The pipeline's schemas and everything in them belong to the NOLOGIN
-- role pipeline_writer; the pipeline connects as crm_pipeline, a LOGIN member without SUPERUSER,
-- CREATEROLE or CREATEDB that takes the group's identity at connection start (URL option
-- `options=-c role=pipeline_writer`), so the tables dbt and the loader create are the group's too.
-- Migrations run as a separate step with the admin login (common.migrate), which creates roles and
-- grants and then hands new objects over (audit.hand_over_to_pipeline, called by every admin migrate).
-- The desk schema stays with the admin (desk_service has its own grants, 130_desk.sql).
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'crm_pipeline') then
        create role crm_pipeline login nosuperuser nocreaterole nocreatedb noreplication nobypassrls
        in role pipeline_writer;
    end if;
    -- the run-time login connects and uses temporary tables; it creates no schema (seeds is made below)
    execute format('grant connect, temporary on database %I to pipeline_writer', current_database());
end
$$;

create schema if not exists seeds;  -- dbt's seeds (it would need CREATE on the database)

create or replace procedure audit.hand_over_to_pipeline()
language plpgsql
as $$
declare
    pipeline_schemas constant text[] := array[
        'raw_crm', 'raw_finance', 'quarantine', 'staging', 'intermediate', 'marts', 'seeds', 'ratings',
        'ratings_stage', 'audit', 'model_shadow', 'events'
    ];
    item record;
begin
    for item in
        select n.nspname from pg_namespace as n
        where n.nspname = any(pipeline_schemas) and pg_get_userbyid(n.nspowner) <> 'pipeline_writer'
    loop
        execute format('alter schema %I owner to pipeline_writer', item.nspname);
    end loop;
    for item in
        select n.nspname, c.relname, c.relkind from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = any(pipeline_schemas) and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
          and pg_get_userbyid(c.relowner) <> 'pipeline_writer'
          -- sequences owned by a table column move with their table
          and not (c.relkind = 'S' and exists (
              select 1 from pg_depend as d where d.objid = c.oid and d.deptype in ('a', 'i')))
    loop
        execute format(
            'alter %s %I.%I owner to pipeline_writer',
            case item.relkind
                when 'v' then 'view' when 'm' then 'materialized view' when 'S' then 'sequence'
                when 'f' then 'foreign table' else 'table'
            end,
            item.nspname, item.relname
        );
    end loop;
    for item in
        select n.nspname, p.oid::regprocedure::text as signature, p.prokind from pg_proc as p
        join pg_namespace as n on n.oid = p.pronamespace
        where n.nspname = any(pipeline_schemas) and pg_get_userbyid(p.proowner) <> 'pipeline_writer'
          and p.proname <> 'hand_over_to_pipeline'
    loop
        execute format(
            'alter %s %s owner to pipeline_writer',
            case item.prokind when 'p' then 'procedure' else 'function' end,
            item.signature
        );
    end loop;
end
$$;

-- The daily run's refresh_desk (`python -m desk after-publish`, as the pipeline): the exposure snapshot
-- and the cases of the new ratings, audited. Nothing else of the desk is the pipeline's.
grant usage on schema desk to pipeline_writer;
grant select, insert, update on desk.customer_exposure to pipeline_writer;
grant select, insert on desk.cases to pipeline_writer;
grant select on desk.account_managers to pipeline_writer;
grant insert on desk.audit_log to pipeline_writer;

-- BI keeps reading what the pipeline (now the owner) creates in ratings later.
alter default privileges for role pipeline_writer in schema ratings grant select on tables to bi_reader;

call audit.hand_over_to_pipeline();
