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
