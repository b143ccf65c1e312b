"""PII lives only in raw, staging and quarantine: never in intermediate, marts, seeds, ratings or audit.

The real pipeline runs on a small simulated book (bootstrap, then one daily run through the task
functions); then every table and view outside the PII schemas is scanned for PII column names and
for PII values sampled from the CRM source (legal names, tax ids, e-mails, phones).

Quarantine is a PII schema by design: it keeps rejected raw rows whole (row_data jsonb) so that they
can be corrected and reloaded; it is as closed as raw (no grant to bi_reader or desk_service; the
pipeline's own role, pipeline_writer, owns them because it loads and transforms them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from psycopg2 import sql

from common.warehouse import transaction
from tests.helpers.book import Book, rated_book

pytestmark = pytest.mark.slow

PII_SCHEMAS = {"raw_crm", "raw_finance", "staging", "quarantine"}
PII_COLUMN = re.compile(r"legal_name|tax_id|first_name|last_name|e_?mail|phone")
SAMPLE = 25  # values of each kind


@pytest.fixture(scope="module")
def book(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    with rated_book(admin_url, tmp_path_factory.mktemp("pii"), seed=29) as rated:
        yield rated


@pytest.fixture(scope="module")
def pii_values(book: Book) -> dict[str, list[str]]:
    """A sample of each kind of PII value the CRM source holds (long enough not to match by chance)."""
    queries = {
        "legal_name": "select legal_name from crm.accounts",
        "tax_id": "select tax_id from crm.accounts",
        "email": "select email from crm.contacts",
        "phone": "select phone from crm.contacts",
    }
    out = {}
    with transaction(book.dbs.crm_source) as cur:
        for kind, query in queries.items():
            cur.execute(f"{query} where length({kind}) >= 6 order by md5({kind}) limit %s", (SAMPLE,))
            out[kind] = [row[0] for row in cur.fetchall()]
            assert len(out[kind]) == SAMPLE, kind
    return out


def relations(url: str, pii: bool) -> list[tuple[str, str]]:
    """(schema, name) of every table, view and materialized view inside or outside the PII schemas."""
    with transaction(url) as cur:
        cur.execute(
            "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'p', 'v', 'm') and n.nspname not like 'pg\\_%%'"
            " and n.nspname <> 'information_schema' and (n.nspname = any(%s)) = %s order by 1, 2",
            (sorted(PII_SCHEMAS), pii),
        )
        return cur.fetchall()


def leaked(url: str, schema: str, name: str, values: list[str]) -> list[str]:
    """The values that occur anywhere in a row of the relation (every column, jsonb and arrays included)."""
    with transaction(url) as cur:
        cur.execute(sql.SQL("select v from unnest(%s::text[]) as v where exists "
                            "(select 1 from {rel} as t where strpos(t::text, v) > 0)").format(
            rel=sql.Identifier(schema, name)), (values,))
        return [row[0] for row in cur.fetchall()]


def test_the_book_was_built_and_rated(book: Book) -> None:
    with transaction(book.dbs.warehouse) as cur:
        cur.execute("select count(*) from ratings.customer_ratings where as_of_date = %s", (book.as_of,))
        assert cur.fetchone()[0] > 150
        cur.execute("select count(distinct as_of_date) from marts.customer_features")
        assert cur.fetchone()[0] > 10


def test_no_pii_column_outside_raw_staging_and_quarantine(book: Book) -> None:
    scanned = relations(book.dbs.warehouse, pii=False)
    schemas = {schema for schema, _ in scanned}
    assert {"intermediate", "marts", "seeds", "ratings", "ratings_stage", "audit"} <= schemas
    with transaction(book.dbs.warehouse) as cur:
        cur.execute(
            "select n.nspname || '.' || c.relname || '.' || a.attname from pg_attribute a"
            " join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace"
            " where a.attnum > 0 and not a.attisdropped and (n.nspname, c.relname) in (select * from"
            " unnest(%s::text[], %s::text[])) and a.attname ~ %s",
            ([s for s, _ in scanned], [r for _, r in scanned], PII_COLUMN.pattern),
        )
        assert cur.fetchall() == []


def test_no_pii_value_outside_raw_staging_and_quarantine(book: Book, pii_values: dict[str, list[str]]) -> None:
    values = [v for kind in pii_values.values() for v in kind]
    url = book.dbs.warehouse
    found = {f"{schema}.{name}": hits for schema, name in relations(url, pii=False)
             if (hits := leaked(url, schema, name, values))}
    assert found == {}


def test_the_scan_finds_pii_where_it_is_allowed(book: Book, pii_values: dict[str, list[str]]) -> None:
    """The search itself works: every sampled value is found in raw and in the staging identity models."""
    url = book.dbs.warehouse
    accounts = pii_values["legal_name"] + pii_values["tax_id"]
    contacts = pii_values["email"] + pii_values["phone"]
    assert sorted(leaked(url, "raw_crm", "accounts", accounts)) == sorted(accounts)
    assert sorted(leaked(url, "raw_crm", "contacts", contacts)) == sorted(contacts)
    assert sorted(leaked(url, "staging", "stg_crm__account_identities", accounts)) == sorted(accounts)
    assert sorted(leaked(url, "staging", "stg_crm__contacts", contacts)) == sorted(contacts)
    pii_relations = {f"{s}.{r}" for s, r in relations(url, pii=True)}
    assert {"staging.stg_crm__account_identities", "staging.stg_crm__contacts", "quarantine.rejected_rows"} \
        <= pii_relations


def test_pii_schemas_are_closed_to_the_bi_and_desk_roles(book: Book) -> None:
    with transaction(book.dbs.warehouse) as cur:
        cur.execute("select role, schema from unnest(array['bi_reader', 'desk_service']) as role,"
                    " unnest(%s::text[]) as schema where has_schema_privilege(role, schema, 'usage')",
                    (sorted(PII_SCHEMAS),))
        assert cur.fetchall() == []



def test_no_quality_check_samples_pii_values_into_the_results() -> None:
    """A failed column check stores a sample of unexpected values in audit.data_quality_results, which BI
    reads through ratings.data_quality_results: so no suite checks a PII column by value."""
    import json

    from common.paths import REPO_ROOT

    offending = []
    for path in sorted((REPO_ROOT / "expectations" / "suites").glob("*.json")):
        for expectation in json.loads(path.read_text(encoding="utf-8"))["expectations"]:
            kwargs = expectation.get("kwargs", {})
            named = [kwargs.get(k) for k in ("column", "column_A", "column_B")] + list(kwargs.get("column_list", []))
            offending += [f"{path.name}: {expectation['type']}({c})" for c in named
                          if isinstance(c, str) and PII_COLUMN.search(c)]
    assert offending == []
