"""An empty marts.customer_features shaped as config/features.yml says, for tests that write the rows themselves."""

from __future__ import annotations

from common.config import load_config
from common.warehouse import transaction
from devtools.synthetic import SQL_TYPES


def create_feature_mart(url: str, keyed: bool = True) -> list[str]:
    """marts.customer_features with the columns of config/features.yml (what dbt builds); returns its columns.

    keyed=False leaves out the not-null key and primary key, so a quality-gate test can store the
    broken rows (a missing or duplicate key) the gate must catch.
    """
    spec = load_config("features")
    cols = ", ".join(f'"{f["name"]}" {SQL_TYPES[f["kind"]]}' for f in spec["features"])
    with transaction(url) as cur:
        if keyed:
            cur.execute("create table if not exists marts.customer_features (customer_id text not null,"
                        f" as_of_date date not null, {cols}, primary key (customer_id, as_of_date))")
        else:
            cur.execute(f"create table if not exists marts.customer_features (customer_id text, as_of_date date, {cols})")
    return ["customer_id", "as_of_date"] + [f["name"] for f in spec["features"]]
