-- Staging one run's ratings and warning hits in ratings_stage (BI never reads it); see ratings/staging.py.

-- name: reference_ratings
-- The version holding each customer's latest rating dated in [lo, hi]: the latest version overlapping
-- [lo, hi] on a rated date (read from the versions: the view would expand every rated date first).
-- Parameters: %(ids)s the customers of the chunk, %(lo)s and %(hi)s the window of the lookback.
select distinct on (v.customer_id) v.customer_id, v.score, v.rating_grade
from ratings.customer_rating_versions as v
where v.customer_id = any(%(ids)s)
    and v.valid_from_date <= %(hi)s and v.valid_to_date > %(lo)s
    and exists (
        select 1 from ratings.rated_dates as d
        where d.as_of_date between greatest(v.valid_from_date, %(lo)s) and least(v.valid_to_date - 1, %(hi)s)
    )
order by v.customer_id, v.valid_from_date desc;
