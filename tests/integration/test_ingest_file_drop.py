"""The file-drop connector: CSV and Parquet landing folders per day, bad lines, malformed files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml

from common.paths import CONFIG_DIR
from common.warehouse import transaction
from ingest.connectors import MalformedFile
from ingest.extract import extract_interval

DAY1, DAY2, DAY3 = dt.date(2025, 1, 1), dt.date(2025, 1, 2), dt.date(2025, 1, 3)
HEADER = "account_id,legal_name,tax_id,industry,region,size_band,status,created_at,updated_at"


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warehouse_url: str) -> Path:
    """A config folder whose crm source is a file drop into a temporary landing folder."""
    config = yaml.safe_load((CONFIG_DIR / "sources.yml").read_text())
    config["sources"]["crm"].update(kind="file_drop", landing_dir=str(tmp_path / "landing"))
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "sources.yml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("CRM_RISK_CONFIG_DIR", str(config_dir))
    return tmp_path / "landing" / "crm"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _fetch(url: str, query: str) -> list[tuple]:
    with transaction(url) as cur:
        cur.execute(query)
        return cur.fetchall()


def _drop_two_days(landing: Path) -> None:
    _write(landing / DAY1.isoformat() / "accounts.csv", "\n".join([
        HEADER,
        'C0000001,"Oak Foods, Ltd",TX1,retail,north,small,active,2024-05-01 10:00:00+00,2025-01-01 09:00:00+00',
        "C0000002,Nova AG,TX2,it_services,west,large,active,2025-01-01T08:00:00Z,2025-01-01T08:00:00Z",
        "C0000003,Broken line with too few fields",
        ",No Key GmbH,TX4,retail,north,small,active,2025-01-01 08:00:00+00,2025-01-01 08:00:00+00",
    ]) + "\n")
    contacts = pd.DataFrame({
        "contact_id": ["K1", "K2"], "account_id": ["C0000001", "C0000099"], "first_name": ["Ann", "Bo"],
        "last_name": ["Lee", "Ray"], "email": ["a@x.example", None], "phone": [None, "+41 1"],
        "created_at": pd.to_datetime(["2025-01-01 10:00", "2025-01-01 11:00"], utc=True),
        "updated_at": pd.to_datetime(["2025-01-01 10:00", "2025-01-01 11:00"], utc=True),
    })
    (landing / DAY1.isoformat()).mkdir(parents=True, exist_ok=True)
    contacts.to_parquet(landing / DAY1.isoformat() / "contacts.parquet")
    tickets = pd.DataFrame({
        "ticket_id": ["T1"], "account_id": ["C0000002"], "category": ["complaint"],
        "severity": pd.array([3], dtype="Int64"), "opened_at": pd.to_datetime(["2025-01-02 09:00"], utc=True),
        "closed_at": pd.to_datetime([None], utc=True), "created_at": pd.to_datetime(["2025-01-02 09:00"], utc=True),
        "updated_at": pd.to_datetime(["2025-01-02 09:00"], utc=True),
    })
    (landing / DAY2.isoformat()).mkdir(parents=True, exist_ok=True)
    tickets.to_parquet(landing / DAY2.isoformat() / "tickets.parquet")


def test_csv_and_parquet_drops_load_and_bad_lines_are_quarantined(landing, warehouse_url):
    _drop_two_days(landing)
    results = {r.source_table: r for r in extract_interval("crm", DAY1, DAY3, verbose=False)}
    accounts = results["crm.accounts"]
    assert (accounts.extracted, accounts.loaded, accounts.quarantined) == (4, 2, 2)
    assert (results["crm.contacts"].loaded, results["crm.contacts"].quarantined) == (1, 1)
    assert results["crm.tickets"].loaded == 1
    assert all(r.extracted == r.loaded + r.quarantined for r in results.values())
    rows = _fetch(warehouse_url, "select account_id, legal_name, created_at from raw_crm.accounts order by 1")
    assert rows[0][:2] == ("C0000001", "Oak Foods, Ltd")
    assert rows[1][2] == dt.datetime(2025, 1, 1, 8, tzinfo=dt.UTC)
    rules = dict(_fetch(warehouse_url, "select rule, reason from quarantine.rejected_rows "
                                       "where source_table = 'crm.accounts'"))
    assert rules["unparseable_line"].startswith("line 4 has 2 fields, expected 9")
    assert rules["required"] == "account_id is missing"
    [(ref_reason,)] = _fetch(warehouse_url, "select reason from quarantine.rejected_rows "
                                            "where source_table = 'crm.contacts'")
    assert ref_reason == "account_id C0000099 not found in crm.accounts"
    assert _fetch(warehouse_url, "select severity from raw_crm.tickets") == [(3,)]


def test_rerun_of_a_file_drop_interval_adds_no_rows(landing, warehouse_url):
    _drop_two_days(landing)
    extract_interval("crm", DAY1, DAY3, verbose=False)
    extract_interval("crm", DAY1, DAY3, verbose=False)
    assert _fetch(warehouse_url, "select count(*) from raw_crm.accounts") == [(2,)]
    assert _fetch(warehouse_url, "select count(*) from quarantine.rejected_rows") == [(3,)]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("accounts.csv", "account_id,legal_name\nC1,Oak\n", "header lacks columns"),
        ("accounts.parquet", "this is not parquet", "not a readable Parquet file"),
        ("accounts.csv", None, "cannot be read"),
        ("accounts.csv", b"\xff\xfe\x00\x01 binary, no header\n", "header lacks columns"),
        ("accounts.csv", '"an unclosed quote,' + "x" * 10 + "\n", "header lacks columns"),
    ],
)
def test_a_malformed_file_fails_the_task_with_a_clear_message(landing, warehouse_url, name, content, message):
    path = landing / DAY1.isoformat() / name
    if content is None:
        path.mkdir(parents=True)  # exists, cannot be read as a file
    elif isinstance(content, bytes):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    else:
        _write(path, content)
    with pytest.raises(MalformedFile, match=message) as info:
        extract_interval("crm", DAY1, DAY2, verbose=False)
    assert str(path) in str(info.value)
    assert _fetch(warehouse_url, "select count(*) from audit.batch_counts") == [(0,)]


def _account(key: str, updated_at: str = "2025-01-01 09:00:00+00", name: str = "Oak") -> bytes:
    return f"{key},{name},TX,retail,north,small,active,2024-05-01 10:00:00+00,{updated_at}".encode()


def test_one_bad_line_never_fails_the_batch_it_is_quarantined_with_line_and_reason(landing, warehouse_url):
    """Oversize field (20 MB), NUL byte, bytes that are not UTF-8 and watermarks far outside the day:
    each line goes to quarantine with its line number; the good lines load."""
    lines = [
        HEADER.encode(),
        _account("C0000001"),                                       # line 2: good
        _account("C0000002", name="x" * 20_000_000),                # line 3: 20 MB field
        _account("C0000003", name="Nul\x00Byte"),                   # line 4
        _account("C0000004", name="MARK").replace(b"MARK", b"M\xfcller \xff"),  # line 5: Latin-1
        _account("C0000005", updated_at="2020-01-01 00:00:00+00"),  # line 6: years before the day
        _account("C0000006", updated_at="2030-01-01 00:00:00+00"),  # line 7: years after it
        _account("C0000007", updated_at="2024-12-29 00:00:00+00"),  # line 8: 3 days late, accepted
        _account("C0000008", name="Café Sàrl"),                     # line 9: good UTF-8
    ]
    path = landing / DAY1.isoformat() / "accounts.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\n".join(lines) + b"\n")
    [result] = [r for r in extract_interval("crm", DAY1, DAY2, verbose=False) if r.source_table == "crm.accounts"]
    assert (result.extracted, result.loaded, result.quarantined) == (8, 3, 5)
    loaded = _fetch(warehouse_url, "select account_id, legal_name from raw_crm.accounts order by 1")
    assert loaded == [("C0000001", "Oak"), ("C0000007", "Oak"), ("C0000008", "Café Sàrl")]
    rows = _fetch(warehouse_url, "select rule, reason, row_data from quarantine.rejected_rows order by reason")
    reasons = {rule: reason for rule, reason, _ in rows if rule != "watermark_outside_interval"}
    assert reasons == {
        "oversize_field": "line 3 field legal_name has 20000000 characters (at most 65536)",
        "nul_byte": "line 4 field legal_name contains a NUL byte",
        "bad_encoding": "line 5 field legal_name is not valid UTF-8",
    }
    outside = sorted(reason for rule, reason, _ in rows if rule == "watermark_outside_interval")
    assert [r.split(": ")[-1] for r in outside] == ["2020-01-01 00:00:00+00", "2030-01-01 00:00:00+00"]
    data = {rule: row_data for rule, _, row_data in rows}
    assert data["oversize_field"]["fields"][1].endswith("... (20000000 characters)")
    assert len(data["oversize_field"]["fields"][1]) < 300  # quarantine keeps the line, not the 20 MB
    assert data["nul_byte"]["fields"][1] == "Nul\ufffdByte" and data["nul_byte"]["line_no"] == 4
    assert data["bad_encoding"]["fields"][1] == "M\ufffdller \ufffd"
    assert all(row_data["file"] == str(path) for rule, _, row_data in rows if rule != "watermark_outside_interval")


def test_a_parquet_row_with_a_nul_byte_is_quarantined_with_its_row_number(landing, warehouse_url):
    contacts = pd.DataFrame({
        "contact_id": ["K1", "K2"], "account_id": ["C0000001", "C0000001"], "first_name": ["Ann", "B\x00o"],
        "last_name": ["Lee", "Ray"], "email": [None, None], "phone": [None, None],
        "created_at": pd.to_datetime(["2025-01-01 10:00"] * 2, utc=True),
        "updated_at": pd.to_datetime(["2025-01-01 10:00"] * 2, utc=True),
    })
    _write(landing / DAY1.isoformat() / "accounts.csv", HEADER + "\n" + _account("C0000001").decode() + "\n")
    contacts.to_parquet(landing / DAY1.isoformat() / "contacts.parquet")
    results = {r.source_table: r for r in extract_interval("crm", DAY1, DAY2, verbose=False)}
    assert (results["crm.contacts"].extracted, results["crm.contacts"].loaded) == (2, 1)
    assert _fetch(warehouse_url, "select rule, reason from quarantine.rejected_rows") == [
        ("nul_byte", "row 2 field first_name contains a NUL byte")]
