"""Rotate the pseudonym key: re-key every customer_id of the warehouse in one transaction.

`OLD_PSEUDONYM_KEY=... PSEUDONYM_KEY=<new> python -m pipeline.rekey` maps each CRM account id of
raw_crm.accounts to its pseudonym under the old and the new key, then rewrites every column named
customer_id in the base tables outside the schemas that hold CRM ids (raw_*, staging, quarantine): the
intermediate and marts tables, ratings with its history, ratings_stage, model_shadow, desk. One
transaction: the warehouse is wholly under the old key or wholly under the new one. A customer_id that
is not a pseudonym of any known account under the old key stops the rotation (it was made under yet
another key, or is not a pseudonym): nothing is changed. Stop the DAGs and the desk first
(docs/security.md, key handling).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import execute_values

from common.pseudonym import pseudonym_key, pseudonymise
from common.warehouse import WAREHOUSE, one_row, transaction

OLD_KEY_ENV = "OLD_PSEUDONYM_KEY"
CRM_ID_SCHEMAS = ("raw_crm", "raw_finance", "staging", "quarantine")  # customer_id there is a CRM id
_LOCK_KEY = 4_171_015


class RekeyRefused(RuntimeError):
    """The warehouse holds customer_ids the old key does not explain; nothing was changed."""


@dataclass(frozen=True)
class RekeyResult:
    accounts: int
    rows: dict[str, int]  # schema.table -> rows re-keyed


def customer_id_columns(cur: psycopg2.extensions.cursor) -> list[tuple[str, str]]:
    """(schema, table) of every base table with a customer_id column outside the CRM-id schemas."""
    cur.execute(
        "select n.nspname, c.relname from pg_attribute a join pg_class c on c.oid = a.attrelid"
        " join pg_namespace n on n.oid = c.relnamespace where a.attname = 'customer_id' and a.attnum > 0"
        " and not a.attisdropped and c.relkind in ('r', 'p') and not c.relispartition"
        " and n.nspname not like 'pg\\_%%' and n.nspname <> 'information_schema'"
        " and n.nspname <> all(%s) order by 1, 2",
        (list(CRM_ID_SCHEMAS),),
    )
    return [(schema, table) for schema, table in cur.fetchall()]


def rekey(old_key: bytes, new_key: bytes, url: str = WAREHOUSE) -> RekeyResult:
    """Rewrite every pseudonymous customer_id from old_key to new_key in one transaction."""
    if old_key == new_key:
        raise ValueError("the old and the new pseudonym key are the same")
    with transaction(url) as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur.execute("select distinct account_id from raw_crm.accounts where account_id is not null")
        accounts = [row[0] for row in cur.fetchall()]
        cur.execute(
            "create temporary table rekey_map (old_id text primary key, new_id text not null) on commit drop"
        )
        execute_values(
            cur,
            "insert into rekey_map values %s",
            [(pseudonymise(a, old_key), pseudonymise(a, new_key)) for a in accounts],
            page_size=10_000,
        )
        tables = customer_id_columns(cur)
        for schema, table in tables:
            cur.execute(
                sql.SQL(
                    "select count(*) from {t} where customer_id is not null"
                    " and customer_id not in (select old_id from rekey_map)"
                ).format(t=sql.Identifier(schema, table))
            )
            unknown = int(one_row(cur)[0])
            if unknown:
                raise RekeyRefused(
                    f"{schema}.{table}: {unknown} customer_id(s) are not pseudonyms of a known account under "
                    "the old key; nothing was changed"
                )
        rows = {}
        for schema, table in tables:
            cur.execute(
                sql.SQL(
                    "update {t} as t set customer_id = m.new_id from rekey_map as m where t.customer_id = m.old_id"
                ).format(t=sql.Identifier(schema, table))
            )
            rows[f"{schema}.{table}"] = cur.rowcount
    return RekeyResult(len(accounts), rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    old = os.environ.get(OLD_KEY_ENV)
    if not old:
        parser.error(f"set {OLD_KEY_ENV} to the key in use and PSEUDONYM_KEY to the new one")
    result = rekey(old.encode("utf-8"), pseudonym_key())
    print(f"re-keyed {sum(result.rows.values()):,} rows for {result.accounts:,} accounts:")
    for table, count in result.rows.items():
        print(f"  {table}: {count:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
