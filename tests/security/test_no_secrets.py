"""No secret in the repository: every tracked file is scanned for credentials and private keys."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from common.paths import REPO_ROOT

# Values that are obviously placeholders (documentation, .env.example, local trust-auth URLs).
PLACEHOLDERS = {"change-me", "secret", "pw", "p%40ss", "password", "changeme", "example", "xxx", "${POSTGRES_PASSWORD}"}

PATTERNS = {
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "Slack token": re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}"),
    "password in URL": re.compile(r"[a-z+]+://[^\s:/@'\"]+:(?P<value>[^\s@'\"/]+)@[\w.-]+"),
    "password assignment": re.compile(
        r"(?i)\b(password|passwd|secret_key|api_key|token)\s*[:=]\s*['\"]?(?P<value>[A-Za-z0-9/+_.!$%-]{8,})"
    ),
    "Fernet key": re.compile(r"(?i)fernet_key\s*[:=]\s*['\"]?(?P<value>[A-Za-z0-9_-]{43}=)"),
}


def findings(path: Path, text: str) -> list[str]:
    found = []
    for name, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            value = match.groupdict().get("value")
            if value and (value.lower() in PLACEHOLDERS or value.startswith(("${", "{{", "%(", "<"))
                          or "change-me" in value.lower()):
                continue
            if value and text[match.end():match.end() + 1] in ("[", "("):
                continue  # code that reads the secret (os.environ["X"], client.post(...)), not a literal
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path}:{line}: {name}")
    return found


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    return [REPO_ROOT / line for line in out.splitlines() if line and (REPO_ROOT / line).is_file()]


def test_no_tracked_file_holds_a_secret():
    problems = []
    for path in tracked_files():
        if path.suffix in {".png", ".jpg", ".parquet", ".gz"} or path.name == "constraints.txt":
            continue
        if path.resolve() == Path(__file__).resolve():
            continue  # this file plants fake secrets on purpose, to prove the scanner sees them
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        problems += findings(path.relative_to(REPO_ROOT), text)
    assert problems == []


@pytest.mark.parametrize(
    "planted",
    [
        "AIRFLOW_CONN_WAREHOUSE=postgresql://loader:Xk29vLq7TzP@db.prod:5432/warehouse",
        "password: 'S3cr3tValue!2026'",
        "aws_key = AKIAABCDEFGHIJKLMNOP",
        "-----BEGIN RSA PRIVATE KEY-----",
    ],
)
def test_scanner_catches_a_planted_secret(planted):
    assert findings(Path("planted.txt"), planted)


@pytest.mark.parametrize("code", ['SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]',
                                  'token = client.post("/api/v1/security/login").json()'])
def test_scanner_leaves_code_that_reads_a_secret_alone(code):
    assert findings(Path("ok.py"), code) == []


# Connections come from Airflow connections or the environment (common.warehouse.connection_url); the
# only literal server addresses are the local defaults of the embedded server and the scratch-database
# helper used by tests and benchmarks.
LITERAL_CONNECTION_ALLOWED = {"devtools/embedded_pg.py", "devtools/scratch.py"}
CODE_FOLDERS = ("common/", "ingest/", "ml/", "expectations/", "pipeline/", "dags/", "devtools/", "bench/",
                "dbt_project/")
CONNECTION_LITERALS = {
    # a DSN whose host is written out, not interpolated: postgresql://user@db.prod:5432/x
    "DSN literal": re.compile(r"\b(?:postgres(?:ql)?|mysql|mssql|redshift|snowflake)(?:\+\w+)?://[\w.%-]+(?::[^@\s'\"/]*)?@?[\w.-]*[\w-]"),
    "host literal": re.compile(r"\bhost\s*=\s*['\"][\w.-]+['\"]"),
    "password literal": re.compile(r"\b(?:password|passwd)\s*=\s*['\"][^'\"{$]+['\"]"),
    "libpq keyword DSN": re.compile(r"['\"][^'\"]*\bhost=[\w.-]+[^'\"]*\bdbname=", re.IGNORECASE),
}


def connection_literals(path: str, text: str) -> list[str]:
    found = []
    for name, pattern in CONNECTION_LITERALS.items():
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path}:{line}: {name}: {match.group(0)}")
    return found


def test_code_takes_connections_from_airflow_or_the_environment_only():
    problems, scanned = [], 0
    for path in tracked_files():
        relative = path.relative_to(REPO_ROOT).as_posix()
        if (not relative.startswith(CODE_FOLDERS) or relative in LITERAL_CONNECTION_ALLOWED
                or path.suffix not in {".py", ".sql", ".yml", ".yaml"}):
            continue
        scanned += 1
        problems += connection_literals(relative, path.read_text(encoding="utf-8"))
    assert problems == []
    assert scanned > 50


@pytest.mark.parametrize(
    "planted",
    [
        'WAREHOUSE = "postgresql+psycopg2://loader@db.prod.internal:5432/warehouse"',
        "engine = create_engine('postgres://etl:hunter22@10.0.0.5/dw')",
        'psycopg2.connect(host="db.prod.internal", dbname="warehouse")',
        'conn = connect(password="Winter2026")',
        'dsn = "host=db.prod.internal port=5432 dbname=warehouse user=etl"',
    ],
)
def test_connection_literal_scanner_catches_a_planted_literal(planted):
    assert connection_literals("planted.py", planted)


@pytest.mark.parametrize(
    "allowed",
    [
        'return f"postgresql+psycopg2://{auth}{host}{port}/{db}"',
        "[--url postgresql://...]",
        "password = quote(conn.get('password') or '', safe='')",
        "url = os.environ['AIRFLOW_CONN_WAREHOUSE']",
    ],
)
def test_connection_literal_scanner_leaves_interpolated_urls_alone(allowed):
    assert connection_literals("ok.py", allowed) == []
