"""Shared plumbing: paths, config, warehouse connections, migrations and dbt runs."""
