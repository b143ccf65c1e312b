"""Feature snapshots for the scoring and warning tests, and a model whose ratings the test sets."""

from __future__ import annotations

from datetime import date

import pandas as pd

from common.warehouse import copy_rows, transaction
from tests.helpers.feature_mart import create_feature_mart


def load_features(url: str, frame: pd.DataFrame) -> None:
    """Replace the snapshot dates of `frame` in marts.customer_features with its rows (missing columns null)."""
    columns = create_feature_mart(url)
    out = frame.copy()
    for c in columns:
        if c not in out:
            out[c] = None
    out["in_default"] = out["in_default"].astype("Int64")
    with transaction(url) as cur:
        cur.execute("delete from marts.customer_features where as_of_date = any(%s)",
                    (sorted(set(out["as_of_date"])),))
        copy_rows(cur, "marts.customer_features", columns, out)


class CraftedModel:
    """Returns the PD/score/grade set per customer by the test (reads only customer_id)."""

    def __init__(self) -> None:
        self.by_customer: dict[str, tuple[float, int, str]] = {}

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = [self.by_customer.get(c, (0.006, 680, "A")) for c in frame["customer_id"]]
        return pd.DataFrame({"pd_12m": [o[0] for o in out], "score": [o[1] for o in out],
                             "rating_grade": [o[2] for o in out], "reason_codes": [["PAY01"]] * len(out)})


def calm_features(d: date, dpd: dict[str, int]) -> pd.DataFrame:
    """Calm customers c1..c4 except the days past due given."""
    ids = ["c1", "c2", "c3", "c4"]
    return pd.DataFrame({
        "customer_id": ids, "as_of_date": d, "dpd_current": [dpd.get(c, 0) for c in ids],
        "credit_limit": 50_000.0, "open_receivables": 10_000.0, "limit_utilisation": 0.2,
        "invoice_amount_12m": 240_000.0, "complaint_count_3m": 0, "complaint_count_12m": 0,
        "bureau_score_change_6m": 0.0, "in_default": 0, "last_default_date": None,
    })
