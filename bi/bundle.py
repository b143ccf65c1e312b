"""Build the importable Superset ZIP from the export folder bi/superset/dashboard, with the warehouse URI.

The folder is Superset's own export format (metadata.yaml, databases/, datasets/, charts/, dashboards/);
the repository keeps it unzipped so that a change reads as a diff. The database file carries a placeholder
URI: the ZIP gets the real one (a login in the role bi_reader). Needs only the standard library and PyYAML,
so it runs in the pipeline's venv and in Superset's.

    python -m bi.bundle --uri postgresql+psycopg2://bi_superset@host:5432/warehouse --out dashboard.zip
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import yaml

EXPORT_DIR = Path(__file__).resolve().parent / "superset" / "dashboard"
ROOT = "credit_risk_dashboard"  # the top folder Superset expects inside an export ZIP


def build_bundle(sqlalchemy_uri: str, out: Path, export_dir: Path = EXPORT_DIR) -> Path:
    """Write the export folder to `out` as a ZIP whose database connects with `sqlalchemy_uri`."""
    files = sorted(p for p in export_dir.rglob("*.yaml") if p.is_file())
    if not (export_dir / "metadata.yaml").is_file():
        raise FileNotFoundError(f"{export_dir} is not a Superset export folder (no metadata.yaml)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            text = path.read_text(encoding="utf-8")
            if path.parent.name == "databases":
                config = yaml.safe_load(text)
                config["sqlalchemy_uri"] = sqlalchemy_uri
                text = yaml.safe_dump(config, sort_keys=False)
            zf.writestr(f"{ROOT}/{path.relative_to(export_dir).as_posix()}", text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True, help="SQLAlchemy URI of the warehouse, as a bi_reader login")
    parser.add_argument("--out", required=True, type=Path, help="the ZIP to write")
    args = parser.parse_args()
    print(build_bundle(args.uri, args.out))


if __name__ == "__main__":
    main()
