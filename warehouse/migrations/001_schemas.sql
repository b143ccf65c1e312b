-- The warehouse schemas. raw_crm, raw_finance and quarantine hold source rows as extracted (PII
-- included); staging, intermediate and marts belong to dbt; ratings is the BI contract and
-- ratings_stage the scoring task's private area before the quality gate; audit records every run,
-- batch, quality check and applied migration.
create schema if not exists raw_crm;
create schema if not exists raw_finance;
create schema if not exists quarantine;
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists marts;
create schema if not exists ratings;
create schema if not exists ratings_stage;
create schema if not exists audit;
