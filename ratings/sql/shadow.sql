-- Shadow scoring of the @challenger: model_shadow.scores; see ratings/shadow.py.
-- Parameters: %(d)s the rated date, %(model_name)s / %(model_version)s the challenger version.

-- name: clear_version_date
-- A rerun of D replaces D's rows of this version (and nothing else).
delete from model_shadow.scores
where as_of_date = %(d)s and model_name = %(model_name)s and model_version = %(model_version)s;
