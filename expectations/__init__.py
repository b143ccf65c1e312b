"""Data-quality gates: Great Expectations suites (JSON in suites/) and the runner (`expectations.gate`)."""
