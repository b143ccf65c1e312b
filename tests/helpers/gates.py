"""Rows for the quality-gate tests: a plausible feature snapshot, staged ratings, and the stored gate results."""

from __future__ import annotations

from datetime import UTC, date, datetime

from common.config import load_config
from common.warehouse import transaction


def insert_features(url: str, day: date, n: int = 40, dpd: float = 3.0, **over) -> None:
    """n plausible feature rows for one snapshot; `over` sets a column for every row."""
    spec = load_config("features")
    with transaction(url) as cur:
        for i in range(n):
            row = {f["name"]: None for f in spec["features"]}
            row.update({f["name"]: float(i % 4) for f in spec["features"] if f["kind"] == "numeric"})
            row.update(customer_id=f"c{i:04d}", as_of_date=day, dpd_current=dpd + (i % 3), max_dpd_3m=5.0,
                       max_dpd_6m=6.0, max_dpd_12m=10.0 + i % 5, share_paid_late_12m=0.1 * (i % 5),
                       overdue_share_of_balance=0.2, negative_outcome_share_6m=0.3, credit_limit=10000.0,
                       limit_utilisation=0.05 * (i % 10), open_receivables=500.0 + i, bureau_score=600.0 + i,
                       industry="retail", region="north", size_band="small", in_default=0,
                       last_default_date=None, max_complaint_severity_6m=1.0, tenure_months=24.0 + i,
                       invoice_amount_12m=12000.0 + 10 * i)
            row.update(over)
            cols = list(row)
            cur.execute(
                f"insert into marts.customer_features ({', '.join(cols)}) "
                f"values ({', '.join('%(' + c + ')s' for c in cols)})", row)


def stage_ratings(url: str, day: date, run_id: str = "run-1", n: int = 40, **over) -> None:
    """Scored rows for the features inserted by insert_features, in the ratings staging table."""
    with transaction(url) as cur:
        for i in range(n):
            row = {"customer_id": f"c{i:04d}", "as_of_date": day, "pd_12m": 0.015, "score": 610,
                   "rating_grade": "BBB", "risk_segment": "standard", "current_credit_limit": 10000,
                   "recommended_credit_limit": 10000, "decision": "approve", "decision_rationale": "ok",
                   "reason_codes": ["PAY01"], "model_name": "crm_credit_pd", "model_version": "1",
                   "run_id": run_id, "scored_at": datetime.now(UTC)}
            row.update(over)
            cols = list(row)
            cur.execute(f"insert into ratings_stage.customer_ratings ({', '.join(cols)}) "
                        f"values ({', '.join('%(' + c + ')s' for c in cols)})", row)


def stored(url: str, **where) -> list[dict]:
    """Rows of audit.data_quality_results matching `where` (column = value)."""
    clause = " and ".join(f"{k} = %({k})s" for k in where) or "true"
    with transaction(url) as cur:
        cur.execute(f"select table_name, expectation_type, check_kind, column_name, severity, success, "
                    f"unexpected_count, message, batch_key from audit.data_quality_results where {clause}",
                    where)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def failed(url: str, stage: str) -> set[tuple]:
    """(table, expectation, check, column, severity) of every failed check of a gate stage."""
    return {(r["table_name"], r["expectation_type"], r["check_kind"], r["column_name"], r["severity"])
            for r in stored(url, stage=stage) if r["success"] is False}
