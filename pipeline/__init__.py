"""Run-level glue between the stages: what each DAG task calls, run audit, initial load."""
