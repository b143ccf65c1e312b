"""Bad copies of source rows, one of every kind the extraction rules can catch."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.sources import TableSpec


def add_dirty_rows(
    rng: np.random.Generator, frame: pd.DataFrame, spec: TableSpec, rate: float
) -> pd.DataFrame:
    """Append bad copies of some rows: one of every kind the table's rules can catch.

    Bad rows are extra rows (new ids), so real rows stay loadable and references to them keep working.
    The draws happen for every row whatever the cut, so the same rows are dirty for any --end.
    """
    u = rng.random(len(frame))
    kind_u = rng.random(len(frame))
    if rate <= 0 or frame.empty:
        return frame
    kinds = ["missing_key", "duplicate"]
    if spec.non_negative:
        kinds.append("negative_amount")
    if "currency" in spec.allowed_values:
        kinds.append("unknown_currency")
    if any(target == "crm.accounts" for target in spec.references.values()):
        kinds.append("unknown_customer")
    if spec.not_in_future:
        kinds.append("future_date")
    chosen = np.flatnonzero(u < rate)
    kind = np.array(kinds)[(kind_u[chosen] * len(kinds)).astype(int)]
    pk = spec.primary_key
    extra = []
    for name in kinds:
        rows = frame.iloc[chosen[kind == name]].copy()
        if rows.empty:
            continue
        if name == "duplicate":
            extra.append(rows)  # an exact second copy of the row, same id
            continue
        rows[pk] = "X" + rows[pk].astype(str) + f"-{name}"
        if name == "missing_key":
            rows[pk] = None
        elif name == "negative_amount":
            col = spec.non_negative[0]
            rows[col] = -rows[col].abs() - 1
        elif name == "unknown_currency":
            rows["currency"] = "XXX"
        elif name == "unknown_customer":
            ref_col = next(col for col, target in spec.references.items() if target == "crm.accounts")
            rows[ref_col] = "CX" + rows[ref_col].astype(str).str[1:]
        elif name == "future_date":
            col = spec.not_in_future[0]
            rows[col] = rows[col] + np.timedelta64(3650, "D")  # a decade typo: always after any interval
        extra.append(rows)
    return pd.concat([frame, *extra], ignore_index=True) if extra else frame
