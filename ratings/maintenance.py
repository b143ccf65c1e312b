"""Reclaiming the dead rows a publish leaves, where the server's autovacuum does not.

Each publish updates rating versions that end, rebuilds warning episodes around the date and clears the
stage: dead row versions that only VACUUM reclaims. PostgreSQL's autovacuum does that on its own; on a
server where it is off (some managed or tuned servers, this project's test server) nothing would, and
the tables and their indexes would only grow. After a publish, `reclaim_dead_rows` checks the server's
setting and, only when autovacuum is off, runs VACUUM (ANALYZE) on the tables publishing rewrites.
"""

from __future__ import annotations

import time
from typing import Any

from psycopg2 import sql

from common.warehouse import connect

# The tables a publish updates or deletes from (ratings.* and its stage); fixed names, not config.
PUBLISH_TABLES = (
    "ratings.customer_rating_versions",
    "ratings.rated_dates",
    "ratings.model_monitoring",
    "ratings.credit_warnings",
    "ratings_stage.customer_ratings",
    "ratings_stage.warning_observations",
    "ratings_stage.scoring_partitions",
)


def reclaim_dead_rows(url: str, tables: tuple[str, ...] = PUBLISH_TABLES) -> dict[str, Any]:
    """VACUUM (ANALYZE) the publish's tables when the server's autovacuum is off; a summary either way.

    VACUUM cannot run inside a transaction, so this uses its own autocommit connection, after the
    publish committed. It takes no lock that blocks readers or writers (BI keeps reading).
    """
    conn = connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select current_setting('autovacuum')::boolean")
            row = cur.fetchone()
            if row is not None and row[0]:
                return {"autovacuum": True, "vacuumed": []}
            started = time.monotonic()
            for table in tables:
                cur.execute(sql.SQL("vacuum (analyze) {}").format(sql.Identifier(*table.split("."))))
        return {
            "autovacuum": False,
            "vacuumed": list(tables),
            "seconds": round(time.monotonic() - started, 2),
        }
    finally:
        conn.close()
