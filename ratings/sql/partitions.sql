-- Scoring partitioned over workers: the plan of a run, each partition's staging, the check before
-- publishing (ratings/partitions.py; the table: warehouse/migrations/170_scoring_partitions.sql).
-- A customer's partition is ratings_stage.scoring_partition(customer_id, partitions).
-- Parameters: %(d)s the rated date, %(run)s the run, %(p)s a partition, %(n)s the number of partitions.

-- name: clear_date
-- A new plan for D: what earlier runs or attempts left staged for D goes, with their plans.
delete from ratings_stage.customer_ratings where as_of_date = %(d)s;
delete from ratings_stage.warning_observations where as_of_date = %(d)s;
delete from ratings_stage.scoring_partitions where as_of_date = %(d)s or run_id = %(run)s;

-- name: insert_plan
insert into ratings_stage.scoring_partitions
    (run_id, as_of_date, partition_no, partitions, model_name, model_version, scored_at)
select %(run)s, %(d)s, p, %(n)s, %(model_name)s, %(model_version)s, %(scored_at)s
from generate_series(0, %(n)s - 1) as p;

-- name: lock_partition
-- The plan's row of one partition, locked for its staging transaction (a second attempt running at
-- the same time waits, then finds it staged and restages it).
select partitions, model_name, model_version, scored_at, staged_at
from ratings_stage.scoring_partitions
where run_id = %(run)s and as_of_date = %(d)s and partition_no = %(p)s
for update;

-- name: clear_partition
-- Rows an earlier, successful attempt staged for this partition (a task cleared and run again).
delete from ratings_stage.customer_ratings
where run_id = %(run)s and as_of_date = %(d)s and ratings_stage.scoring_partition(customer_id, %(n)s) = %(p)s;
delete from ratings_stage.warning_observations
where run_id = %(run)s and as_of_date = %(d)s and ratings_stage.scoring_partition(customer_id, %(n)s) = %(p)s;

-- name: mark_staged
update ratings_stage.scoring_partitions
set staged_at = clock_timestamp(), rows = %(rows)s, observations = %(observations)s, grade_counts = %(grades)s
where run_id = %(run)s and as_of_date = %(d)s and partition_no = %(p)s;

-- name: plan_rows
select partition_no, partitions, model_name, model_version, scored_at, staged_at, rows, observations, grade_counts
from ratings_stage.scoring_partitions
where run_id = %(run)s and as_of_date = %(d)s
order by partition_no;
