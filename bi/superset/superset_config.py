"""Superset's settings for the credit-risk dashboard (loaded through SUPERSET_CONFIG_PATH).

Metadata in SQLite under SUPERSET_HOME unless SUPERSET_METADATA_URI names another database; the secret
key comes from the environment (`make bi` makes one per state folder; docker-compose from .env).
"""

from os import environ as env

SECRET_KEY = env["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = env.get("SUPERSET_METADATA_URI", f"sqlite:///{env['SUPERSET_HOME']}/superset.db")
# Every chart of the dashboard loads at once, also those below the fold (a screenshot shows them all).
FEATURE_FLAGS = {"DASHBOARD_VIRTUALIZATION": False}
# A local, single-process server: results are small, caching in-process is enough.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = CACHE_CONFIG
