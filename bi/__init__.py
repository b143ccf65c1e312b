"""BI dashboards as code: the Apache Superset export in bi/superset/ and how to start it."""
