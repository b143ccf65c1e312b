-- The publishing transaction of a rated date D (see ratings/publish.py), besides the versions
-- (versions.sql), the monitoring row (monitoring.sql) and the episodes (episodes.sql).
-- Parameters: %(d)s the rated date, %(run)s the publishing run.

-- name: lock
-- One publish at a time: the episodes of neighbouring dates interact.
select pg_advisory_xact_lock(%(key)s);

-- name: clear_master_scale
delete from ratings.rating_master_scale where version = %(version)s;

-- name: insert_master_scale_grade
insert into ratings.rating_master_scale (
    grade, grade_rank, pd_lower, pd_upper, pd_central, description, version, is_default
)
values (
    %(grade)s, %(rank)s, %(pd_lower)s, %(pd_upper)s, %(pd_central)s, %(description)s, %(version)s, %(is_default)s
);

-- name: clear_segments
delete from ratings.risk_segments;

-- name: insert_segment
insert into ratings.risk_segments (risk_segment, segment_rank, grades, review_frequency_months, description)
values (%(name)s, %(rank)s, %(grades)s, %(months)s, %(description)s);

-- name: drop_superseded_intraday_warnings
-- Before the episodes around D are rebuilt: intraday warnings (ratings/sql/intraday.sql) dated D or
-- earlier are superseded by the daily episodes, and so is any whose rule holds at D (the run's hits).
delete from ratings.credit_warnings as w
where
    w.rating_kind = 'intraday'
    and (
        w.first_seen_date <= %(d)s
        or exists (
            select 1 from ratings_stage.warning_observations as o
            where o.run_id = %(run)s and o.as_of_date = %(d)s
                and o.customer_id = w.customer_id and o.rule_code = w.rule_code
        )
    );

-- name: clear_stage
delete from ratings_stage.customer_ratings where run_id = %(run)s;
delete from ratings_stage.warning_observations where run_id = %(run)s;
delete from ratings_stage.scoring_partitions where run_id = %(run)s;

-- name: clear_reason_codes
delete from ratings.reason_codes;

-- name: insert_reason_code
insert into ratings.reason_codes (reason_code, reason_text, feature, direction, version)
values (%(code)s, %(text)s, %(feature)s, %(direction)s, %(version)s);
