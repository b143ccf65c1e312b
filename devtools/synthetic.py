"""A synthetic feature + label frame shaped like the marts, for tests and benchmarks (not for production)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

INDUSTRIES = ["manufacturing", "retail", "construction", "services", "logistics", "technology"]
REGIONS = ["north", "south", "east", "west"]
SIZE_BANDS = ["micro", "small", "medium", "large"]


def synthetic_frame(
    n_customers: int = 600,
    n_snapshots: int = 24,
    seed: int = 7,
    start: str = "2023-01-31",
    first_customer: int = 0,
) -> pd.DataFrame:
    """customer_features columns + default_flag, one row per customer and month-end snapshot.

    A latent risk per customer (slowly drifting) drives payment delays, disputes, complaints, bureau
    score and the 12-month default; about 4% of performing rows default within the horizon.
    Customers are numbered from `first_customer` (to build a large book block by block).
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n_snapshots, freq="ME")
    base = rng.normal(0, 1, n_customers)
    industry = rng.choice(INDUSTRIES, n_customers)
    industry_shift = {"construction": 0.4, "retail": 0.2, "technology": -0.2}
    base = base + np.array([industry_shift.get(i, 0.0) for i in industry])
    region = rng.choice(REGIONS, n_customers)
    size = rng.choice(SIZE_BANDS, n_customers, p=[0.35, 0.35, 0.2, 0.1])
    size_scale = pd.Series(size).map({"micro": 0.3, "small": 1.0, "medium": 3.0, "large": 10.0}).to_numpy()
    created_months = rng.integers(1, 120, n_customers)
    frames = []
    drift = np.zeros(n_customers)
    for t, d in enumerate(dates):
        drift = 0.85 * drift + rng.normal(0, 0.35, n_customers)
        z = base + drift
        n = n_customers

        def noisy(scale: float, z=z, n=n) -> np.ndarray:
            return scale * (z + rng.normal(0, 1.8, n))

        dpd = np.clip(rng.gamma(1.0, 6.0, n) * np.exp(0.5 * z) - 8, 0, None).round()
        max12 = dpd + np.clip(rng.gamma(1.0, 10.0, n) * np.exp(0.6 * z) - 5, 0, None).round()
        limit = np.where(rng.random(n) < 0.9, (50_000 * size_scale).round(-3), np.nan)
        open_rec = np.clip(limit * (0.4 + 0.15 * z + rng.normal(0, 0.2, n)), 0, None)
        open_rec = np.where(np.isnan(open_rec), rng.gamma(2, 10_000, n), open_rec)
        inv12 = rng.poisson(24 * np.sqrt(size_scale))
        amt12 = inv12 * rng.gamma(4, 2_000, n)
        bureau = np.clip(650 - 60 * z + rng.normal(0, 110, n), 1, 1000).round()
        bureau = np.where(rng.random(n) < 0.1, np.nan, bureau)
        frame = pd.DataFrame(
            {
                "customer_id": [f"c{i:06d}" for i in range(first_customer, first_customer + n)],
                "as_of_date": d.date(),
                "dpd_current": dpd,
                "max_dpd_3m": dpd + np.clip(noisy(4), 0, None).round(),
                "max_dpd_6m": dpd + np.clip(noisy(6), 0, None).round(),
                "max_dpd_12m": max12,
                "share_paid_late_12m": 1 / (1 + np.exp(-(noisy(1.0) - 1.5))),
                "avg_days_late_12m": np.clip(noisy(5) + 3, 0, None),
                "overdue_share_of_balance": np.clip(0.1 + 0.12 * noisy(1.0), 0, 1),
                "open_receivables": open_rec,
                "credit_limit": limit,
                "limit_utilisation": open_rec / limit,
                "utilisation_trend_3m": 0.05 * noisy(0.8),
                "invoice_count_3m": rng.poisson(inv12 / 4),
                "invoice_count_12m": inv12,
                "invoice_amount_3m": amt12 / 4 * np.exp(rng.normal(-0.1 * z, 0.2)),
                "invoice_amount_12m": amt12,
                "invoice_amount_trend": np.exp(rng.normal(-0.15 * z, 0.2)),
                "dispute_count_12m": rng.poisson(np.exp(-1.5 + 0.7 * z)),
                "open_dispute_amount": np.where(
                    rng.random(n) < 1 / (1 + np.exp(2.5 - z)), rng.gamma(2, 3_000, n), 0.0
                ),
                "credit_note_amount_12m": rng.gamma(1.0, 500, n) * np.exp(0.3 * z),
                "activity_count_3m": rng.poisson(6 * np.exp(-0.1 * z)),
                "negative_outcome_share_6m": np.clip(0.2 + 0.08 * noisy(1.0), 0, 1),
                "days_since_last_contact": np.where(
                    rng.random(n) < 0.05, np.nan, rng.gamma(2, 15, n).round()
                ),
                "complaint_count_3m": rng.poisson(np.exp(-2.2 + 0.6 * z)),
                "complaint_count_12m": rng.poisson(np.exp(-1.0 + 0.6 * z)),
                "max_complaint_severity_6m": np.clip(rng.poisson(np.exp(-1.5 + 0.6 * z)), 0, 4),
                "open_ticket_count": rng.poisson(np.exp(-1.2 + 0.3 * z)),
                "tenure_months": created_months + t,
                "industry": industry,
                "region": region,
                "size_band": size,
                "won_order_amount_12m": rng.gamma(1.5, 20_000, n) * size_scale,
                "bureau_score": bureau,
                "bureau_score_change_6m": np.where(
                    np.isnan(bureau), np.nan, (-25 * drift + rng.normal(0, 20, n)).round()
                ),
            }
        )
        pd_true = 1 / (1 + np.exp(-(-3.9 + 1.1 * z)))
        frame["default_flag"] = (rng.random(n) < pd_true).astype(int)
        frame["in_default"] = (rng.random(n) < 0.01 * (1 + (z > 1.5))).astype(int)
        frame["last_default_date"] = pd.NaT
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["as_of_date"] = pd.to_datetime(out["as_of_date"])
    return out


SQL_TYPES = {"numeric": "double precision", "categorical": "text", "flag": "integer", "date": "date"}


def write_synthetic_marts(
    url: str,
    n_customers: int,
    n_snapshots: int = 24,
    seed: int = 7,
    start: str = "2023-01-31",
    block_customers: int = 20_000,
    horizon_months: int = 12,
    progress: Any = None,
) -> int:
    """Create marts.customer_features and marts.customer_default_labels in the database at `url` and
    fill them with a synthetic book, `block_customers` customers (all their snapshots) at a time, each
    block COPYed before the next is generated: memory stays flat whatever `n_customers`.

    For benchmarks and tests on a scratch database, never on a real warehouse. Returns rows written.
    """
    from common.config import load_config
    from common.warehouse import copy_rows, transaction

    features = load_config("features")["features"]
    columns = ["customer_id", "as_of_date"] + [f["name"] for f in features]
    ddl = ", ".join(f'"{f["name"]}" {SQL_TYPES[f["kind"]]}' for f in features)
    with transaction(url) as cur:
        cur.execute("create schema if not exists marts")
        cur.execute("drop table if exists marts.customer_features, marts.customer_default_labels")
        cur.execute(
            f"create table marts.customer_features (customer_id text not null, as_of_date date not null, "
            f"{ddl})"
        )
        cur.execute(
            "create table marts.customer_default_labels (customer_id text not null, as_of_date date "
            "not null, horizon_end_date date not null, default_flag integer not null)"
        )
    written = 0
    for block, first in enumerate(range(0, n_customers, block_customers)):
        n = min(block_customers, n_customers - first)
        frame = synthetic_frame(n, n_snapshots, seed=seed + block, start=start, first_customer=first)
        frame["as_of_date"] = frame["as_of_date"].dt.date
        labels = pd.DataFrame(
            {
                "customer_id": frame["customer_id"],
                "as_of_date": frame["as_of_date"],
                "horizon_end_date": (
                    pd.to_datetime(frame["as_of_date"]) + pd.DateOffset(months=horizon_months)
                ).dt.date,
                "default_flag": frame["default_flag"],
            }
        )
        with transaction(url) as cur:
            copy_rows(cur, "marts.customer_features", columns, frame)
            copy_rows(cur, "marts.customer_default_labels", list(labels.columns), labels)
        written += len(frame)
        del frame, labels
        if progress:
            progress(written)
    with transaction(url) as cur:  # the keys and indexes dbt gives the marts
        cur.execute("alter table marts.customer_features add primary key (customer_id, as_of_date)")
        cur.execute("create index on marts.customer_features (as_of_date)")
        cur.execute("create unique index on marts.customer_default_labels (customer_id, as_of_date)")
        cur.execute("create index on marts.customer_default_labels (as_of_date)")
    with transaction(url) as cur:
        cur.execute("analyze marts.customer_features")
        cur.execute("analyze marts.customer_default_labels")
    return written
