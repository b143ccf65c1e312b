"""The dbt builds the pipeline calls: one feature snapshot per day, the whole feature history, or the
features of a few re-rated accounts (credit events)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from common.config import check_config_folder
from common.dbt import run_dbt
from common.pseudonym import require_pseudonym_key
from common.warehouse import WAREHOUSE, connect, connection_url

# The daily build and the re-rating both replace the intermediate tables: one dbt build at a time.
BUILD_LOCK_KEY = 4_171_040

# Unit tests check SQL logic on fixed inputs; CI runs them (`dbt test --select test_type:unit`),
# production builds skip them. The daily build also skips the staging tests (they scan whole source
# histories; raw is gated before dbt runs); the history build runs them.
_SKIP_UNIT_TESTS = ["--exclude", "test_type:unit"]
_DAILY_EXCLUDE = ["--exclude", "test_type:unit", "tag:staging_tests"]


def _iso(day: dt.date | str) -> str:
    """YYYY-MM-DD of a date or ISO date string; anything else is refused before dbt renders it into SQL."""
    if isinstance(day, dt.datetime):
        day = day.date()
    if isinstance(day, dt.date):
        return day.isoformat()
    if isinstance(day, str):
        try:
            return dt.date.fromisoformat(day).isoformat()
        except ValueError:
            pass
    raise ValueError(f"dbt date var must be a date (YYYY-MM-DD), got {day!r}")


@contextlib.contextmanager
def build_lock(conn_id_or_url: str = WAREHOUSE) -> Iterator[None]:
    """Hold the warehouse's dbt build lock (a session advisory lock) while the block runs.

    The checks every dbt run makes come first (the config folder, the pseudonym key), so a bad file
    or a missing key stops the build before it opens a connection.
    """
    check_config_folder()
    require_pseudonym_key()
    url = conn_id_or_url if "://" in conn_id_or_url else connection_url(conn_id_or_url)
    conn = connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (BUILD_LOCK_KEY,))
        yield
    finally:
        conn.close()  # ends the session, which releases the lock


def build_snapshot(as_of_date: dt.date | str, conn_id_or_url: str = WAREHOUSE) -> str:
    """Build (or replace) feature snapshot `as_of_date` and the labels that have matured by now.

    Runs `dbt build --exclude test_type:unit tag:staging_tests --vars '{as_of_date: D}'`: seeds,
    staging (history tables incrementally: only the keys that newly loaded batches touch), the
    intermediate tables for D, then delete+insert of D in marts.customer_features and of the newly
    mature dates in marts.customer_default_labels, with the data tests of those dates, and the daily
    snapshots older than daily_snapshot_retention_days are pruned (month ends stay). Rerunning it for
    the same D gives the same rows.
    """
    dbt_vars = {"as_of_date": _iso(as_of_date)}
    with build_lock(conn_id_or_url):
        return run_dbt(["build", *_DAILY_EXCLUDE], vars=dbt_vars, conn_id_or_url=conn_id_or_url)


def build_rerated_features(as_of_date: dt.date | str, conn_id_or_url: str = WAREHOUSE) -> str:
    """Build the features of the accounts in events.rerate_accounts for as_of_date, with the daily
    snapshot's feature SQL, into marts.customer_features_rerated (the date's rows replaced).

    Runs `dbt run --select +customer_features --vars '{as_of_date: D, rerate: true}'`: the staging
    history tables take the newly loaded raw rows as in a daily run, the intermediate models read only
    those accounts' history. Call it holding build_lock (the caller fills events.rerate_accounts
    under the same lock).
    """
    return run_dbt(
        ["run", "--select", "+customer_features"],
        vars={"as_of_date": _iso(as_of_date), "rerate": True},
        conn_id_or_url=conn_id_or_url,
    )


def build_history(
    as_of_date: dt.date | str,
    recent_days: int = 7,
    history_start_date: dt.date | str | None = None,
    conn_id_or_url: str = WAREHOUSE,
) -> str:
    """Rebuild every snapshot: each month end from the first data month (or history_start_date) up to
    `as_of_date` plus the last `recent_days` days, and all mature labels.

    Runs `dbt build --full-refresh --exclude test_type:unit --vars '{as_of_date: D, history: true,
    recent_days: N}'`; the marts are recreated, in one set-based pass over all dates.
    """
    dbt_vars: dict[str, object] = {
        "as_of_date": _iso(as_of_date),
        "history": True,
        "recent_days": int(recent_days),
    }
    if history_start_date is not None:
        dbt_vars["history_start_date"] = _iso(history_start_date)
    with build_lock(conn_id_or_url):
        return run_dbt(
            ["build", "--full-refresh", *_SKIP_UNIT_TESTS], vars=dbt_vars, conn_id_or_url=conn_id_or_url
        )


def rebuild_staging_history(conn_id_or_url: str = WAREHOUSE) -> str:
    """Recreate the staging history tables from raw (`dbt run --full-refresh --select staging`).

    Needed once after an upgrade that changes their columns: their incremental builds refuse a table of
    another shape (`on_schema_change='fail'`). The marts are not touched: the versions come out the same.
    """
    with build_lock(conn_id_or_url):
        return run_dbt(["run", "--full-refresh", "--select", "staging"], conn_id_or_url=conn_id_or_url)


def build_bi_views(conn_id_or_url: str = WAREHOUSE) -> str:
    """(Re)create the BI views of dbt_project/models/bi in ratings (contracts checked, column comments
    and grants applied): `dbt run --select bi`. The daily and history builds include them; this is for
    a warehouse that has been migrated but not built yet (a new deployment, `make bi`, tests)."""
    return run_dbt(["run", "--select", "bi"], conn_id_or_url=conn_id_or_url)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m common.transform", description="One-off dbt builds.")
    parser.add_argument(
        "command",
        choices=["rebuild-staging-history"],
        help="rebuild-staging-history: recreate the staging history tables from raw (after an upgrade that"
        " changes their columns)",
    )
    parser.parse_args()
    rebuild_staging_history()


if __name__ == "__main__":
    main()
