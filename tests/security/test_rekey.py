"""Key rotation: every pseudonymous customer_id moves from the old key to the new one in one transaction,
CRM ids in raw stay, and ids the old key does not explain stop the rotation with nothing changed."""

from __future__ import annotations

import pytest

from common.pseudonym import pseudonymise
from common.warehouse import transaction
from pipeline.rekey import RekeyRefused, rekey

OLD, NEW = b"old-key-of-the-test-at-least-32-chars", b"new-key-of-the-test-at-least-32-chars"
ACCOUNTS = ["C0000001", "C0000002", "C0000003"]


@pytest.fixture
def keyed(warehouse_url: str) -> str:
    with transaction(warehouse_url) as cur:
        for account in ACCOUNTS:
            cur.execute(
                "insert into raw_crm.accounts (account_id, updated_at, _batch_id, _extracted_at, _interval_start,"
                " _interval_end) values (%s, now(), 'b', now(), now(), now())", (account,))
        cur.execute("create table marts.probe (customer_id text primary key, n int)")
        cur.execute("create table ratings.probe_history (customer_id text, as_of_date date)")
        cur.execute("create table raw_finance.probe (customer_id text)")  # a CRM id, as finance sends it
        for i, account in enumerate(ACCOUNTS):
            cur.execute("insert into marts.probe values (%s, %s)", (pseudonymise(account, OLD), i))
            cur.execute("insert into ratings.probe_history values (%s, current_date), (%s, current_date - 1)",
                        (pseudonymise(account, OLD), pseudonymise(account, OLD)))
            cur.execute("insert into raw_finance.probe values (%s)", (account,))
    return warehouse_url


def _ids(url: str, table: str) -> list[str]:
    with transaction(url) as cur:
        cur.execute(f"select customer_id from {table} order by 1")  # table names from this test
        return [row[0] for row in cur.fetchall()]


def test_rotation_rekeys_every_pseudonym_and_leaves_crm_ids(keyed: str) -> None:
    result = rekey(OLD, NEW, keyed)
    new_ids = sorted(pseudonymise(a, NEW) for a in ACCOUNTS)
    assert _ids(keyed, "marts.probe") == new_ids
    assert _ids(keyed, "ratings.probe_history") == sorted(new_ids * 2)
    assert _ids(keyed, "raw_finance.probe") == ACCOUNTS
    assert result.accounts == 3
    assert result.rows["marts.probe"] == 3 and result.rows["ratings.probe_history"] == 6
    assert "raw_finance.probe" not in result.rows


def test_an_id_the_old_key_does_not_explain_stops_the_rotation_with_nothing_changed(keyed: str) -> None:
    with transaction(keyed) as cur:
        cur.execute("insert into ratings.probe_history values (%s, current_date)", (pseudonymise("C0000001", NEW),))
    before = _ids(keyed, "marts.probe")
    with pytest.raises(RekeyRefused, match=r"ratings\.probe_history: 1 customer_id\(s\) are not pseudonyms"):
        rekey(OLD, NEW, keyed)
    assert _ids(keyed, "marts.probe") == before
