-- Champion-challenger on live data: the @challenger version's scores of every rated date, beside the
-- published @champion ratings, for the model owner's side-by-side once labels mature (`python -m
-- ml.cli models shadow`). Not part of the BI contract: its own schema, which bi_reader cannot read.
-- Written by ratings/shadow.py after the ratings are published; a rerun of a date replaces that
-- date's rows of that version.
create schema if not exists model_shadow;

create table if not exists model_shadow.scores (
    as_of_date date not null,
    customer_id text not null,
    model_name text not null,
    model_version text not null,
    champion_version text not null,
    pd_12m double precision not null check (pd_12m >= 0 and pd_12m <= 1),
    score integer not null,
    rating_grade text not null,
    run_id text not null,
    scored_at timestamptz not null,
    primary key (as_of_date, model_name, model_version, customer_id)
);

create index if not exists scores_version_idx on model_shadow.scores (model_name, model_version, as_of_date);

comment on table model_shadow.scores is
'Shadow scores of the @challenger model version per rated date (never published to BI).';

-- The pipeline writes the shadow scores; bi_reader gets nothing here (090_roles.sql made both roles).
grant usage on schema model_shadow to pipeline_writer;
grant select, insert, update, delete on all tables in schema model_shadow to pipeline_writer;
alter default privileges in schema model_shadow
grant select, insert, update, delete on tables to pipeline_writer;
