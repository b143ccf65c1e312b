-- The BI views become dbt models with enforced contracts and their column descriptions persisted as
-- comments (dbt_project/models/bi/, docs/bi.md): dbt re-creates them, under the same names and with
-- the same columns, on every build (the daily run's, the bootstrap's, `make bi`). Dropped here so that
-- no migration-owned copy lingers with another definition; until the first dbt build after this
-- migration they are absent. override_rate_by_grade reads current_customer_ratings: dropped first.
drop view if exists ratings.override_rate_by_grade;
drop view if exists ratings.current_customer_ratings;
drop view if exists ratings.open_credit_warnings;
drop view if exists ratings.grade_migration_monthly;
drop view if exists ratings.data_quality_results;

-- ratings.customer_ratings stays with the versioned tables it expands (030_ratings.sql); its columns
-- get the descriptions a BI tool shows, like the dbt views'.
comment on column ratings.customer_ratings.customer_id is
'Pseudonymous customer key (the same in every ratings relation and mart).';
comment on column ratings.customer_ratings.as_of_date is 'The rated date the rating describes.';
comment on column ratings.customer_ratings.pd_12m is 'Probability of default within 12 months (0-1; 1 for grade D).';
comment on column ratings.customer_ratings.score is 'Points: 600 at odds 50:1, 20 points double the odds, 300-850.';
comment on column ratings.customer_ratings.rating_grade is
'Master-scale grade AAA, AA, A, BBB, BB, B, CCC, CC (performing) or D (default).';
comment on column ratings.customer_ratings.risk_segment is
'low (AAA-A, reviewed yearly), medium (BBB-BB, 6 months), high (B-CCC, quarterly), very_high (CC-D, monthly).';
comment on column ratings.customer_ratings.current_credit_limit is
'The credit limit valid at as_of_date, EUR (null if none).';
comment on column ratings.customer_ratings.recommended_credit_limit is
'The limit the policy recommends, EUR, rounded down to 1,000.';
comment on column ratings.customer_ratings.decision is
'approve (grant the recommended limit), review (analyst review first), reduce (cut towards the recommendation), hold (no new credit).';
comment on column ratings.customer_ratings.decision_rationale is 'One sentence why the decision was taken.';
comment on column ratings.customer_ratings.reason_codes is
'Up to 4 reason codes, the characteristics that raised the risk most, most important first.';
comment on column ratings.customer_ratings.model_name is 'The registered model that produced the rating.';
comment on column ratings.customer_ratings.model_version is 'The registered model version that produced the rating.';
comment on column ratings.customer_ratings.run_id is
'The pipeline run that published the first rated date of this unchanged rating (rated_dates has the run of each date).';
comment on column ratings.customer_ratings.scored_at is 'When that run scored the customer (UTC).';
