"""A synthetic rated book written straight into the ratings tables: months of rated dates with grade
moves, warnings opening and resolving, monitoring with PSI and a back-test, data-quality results. For
the BI tests, which need every chart of the dashboard to have data without running the pipeline."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

from psycopg2.extras import execute_values

from common.warehouse import transaction

GRADES = ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "D"]
PD = [0.0005, 0.001, 0.003, 0.008, 0.02, 0.05, 0.12, 0.3, 1.0]
SEGMENT = {"AAA": "low", "AA": "low", "A": "low", "BBB": "medium", "BB": "medium", "B": "high", "CCC": "high",
           "CC": "very_high", "D": "very_high"}
SEGMENTS = [("low", 1, ["AAA", "AA", "A"], 12), ("medium", 2, ["BBB", "BB"], 6), ("high", 3, ["B", "CCC"], 3),
            ("very_high", 4, ["CC", "D"], 1)]
OPEN_END = date(9999, 12, 31)


def rated_dates() -> list[date]:
    """Four month ends, then the last seven days of October 2026."""
    month_ends = [date(2026, 7, 31), date(2026, 8, 31), date(2026, 9, 30)]
    return month_ends + [date(2026, 10, 25) + timedelta(days=i) for i in range(7)]


def _decision(grade: str, limit: float, recommended: float) -> str:
    if grade == "D":
        return "hold"
    if limit > recommended:
        return "reduce"
    return "approve" if GRADES.index(grade) <= 3 else "review"


def write_bi_book(url: str, customers: int = 300, seed: int = 5) -> dict[str, int]:
    """Fill the ratings tables of a migrated warehouse; returns row counts per table."""
    rng = random.Random(seed)
    dates = rated_dates()
    ranks = {c: min(8, max(0, int(rng.gauss(3.5, 1.6)))) for c in (f"cust{i:04d}" for i in range(customers))}
    limits = {c: float(rng.choice([5, 10, 20, 50, 100]) * 1000) for c in ranks}
    daily: dict[date, dict[str, int]] = {}
    for d in dates:
        for c in ranks:
            if rng.random() < 0.08 and ranks[c] < 8:
                ranks[c] = min(7, max(0, ranks[c] + rng.choice([-1, 1, 1])))
            if rng.random() < 0.004:
                ranks[c] = 8
        daily[d] = dict(ranks)

    versions = []
    for c in ranks:
        start, grade = dates[0], daily[dates[0]][c]
        for d in dates[1:] + [OPEN_END]:
            if d != OPEN_END and daily[d][c] == grade:
                continue
            g = GRADES[grade]
            recommended = float(int(limits[c] * (1.4 - grade * 0.15)) // 1000 * 1000) if g != "D" else 0.0
            versions.append((c, start, d, PD[grade], 700 - 40 * grade, g, SEGMENT[g], limits[c], max(0.0, recommended),
                             _decision(g, limits[c], max(0.0, recommended)), f"{g}: policy",
                             ["PAY01", "EXP02"][: 1 + grade % 2], "crm_credit_pd", "3", f"run_{start}",
                             datetime.combine(start, datetime.min.time(), tzinfo=UTC)))
            if d != OPEN_END:
                start, grade = d, daily[d][c]

    warnings = []
    for c in ranks:
        bad = [d for d in dates if daily[d][c] >= 6]
        if bad:
            last = bad[-1]
            resolved = None if last == dates[-1] else dates[dates.index(last) + 1]
            warnings.append((c, "PD_HIGH", "warning", bad[0], last, resolved))
        if rng.random() < 0.06:
            first = rng.choice(dates)
            resolved = rng.choice([None, *[d for d in dates if d > first]])
            last = dates[dates.index(resolved) - 1] if resolved else dates[-1]
            warnings.append((c, "DPD_30", "critical", first, last, resolved))
        if any(daily[d][c] == 8 for d in dates):
            first = next(d for d in dates if daily[d][c] == 8)
            warnings.append((c, "NEW_DEFAULT", "critical", first, dates[-1], None))

    with transaction(url) as cur:
        execute_values(cur, "insert into ratings.rating_master_scale (grade, grade_rank, pd_lower, pd_upper,"
                       " pd_central, description, version, is_default) values %s",
                       [(g, i + 1, PD[i] / 2, PD[i] * 2, PD[i], g, "v1", g == "D") for i, g in enumerate(GRADES)])
        execute_values(cur, "insert into ratings.risk_segments values %s",
                       [(s, r, g, m, s) for s, r, g, m in SEGMENTS])
        execute_values(cur, "insert into ratings.reason_codes (reason_code, reason_text, feature, direction, version)"
                       " values %s", [("PAY01", "Current arrears", "dpd_current", "increases_risk", "v1"),
                                      ("EXP02", "High limit use", "limit_utilisation", "increases_risk", "v1")])
        execute_values(cur, "insert into ratings.rated_dates (as_of_date, run_id, scored_at, model_name,"
                       " model_version, rows_published) values %s",
                       [(d, f"run_{d}", datetime.combine(d, datetime.min.time(), tzinfo=UTC), "crm_credit_pd", "3",
                         customers) for d in dates])
        execute_values(cur, "insert into ratings.customer_rating_versions (customer_id, valid_from_date,"
                       " valid_to_date, pd_12m, score, rating_grade, risk_segment, current_credit_limit,"
                       " recommended_credit_limit, decision, decision_rationale, reason_codes, model_name,"
                       " model_version, run_id, scored_at) values %s", versions)
        execute_values(cur, "insert into ratings.credit_warnings (customer_id, rule_code, severity, message,"
                       " first_seen_date, last_seen_date, status, resolved_date, metric_value, threshold) values %s",
                       [(c, r, s, f"{r} on {f}", f, last, "resolved" if res else "open", res, 1.0, 0.5)
                        for c, r, s, f, last, res in warnings])
        monitoring = []
        for i, d in enumerate(dates):
            counts = {g: sum(1 for c in ranks if GRADES[daily[d][c]] == g) for g in GRADES}
            backtest = None
            if i == 0:  # the oldest date stands in for a cohort whose 12 months have passed
                grades = {}
                for j, g in enumerate(GRADES[:-1]):
                    n = counts[g]
                    if n:
                        defaults = round(n * PD[j] * (1.6 if g == "BB" else 1.0))
                        grades[g] = {"customers": n, "defaults": defaults, "default_rate": defaults / n,
                                     "mean_pd": PD[j], "p_value": 0.01 if g == "BB" else 0.5,
                                     "interval": [0, 1], "verdict": "underestimates" if g == "BB" else "ok"}
                backtest = {"cohort_date": d.isoformat(), "grades": grades}
            monitoring.append((d, "crm_credit_pd", "3", customers,
                               json.dumps({g: n / customers for g, n in counts.items()}),
                               round(0.02 + 0.015 * i + rng.random() * 0.01, 4), json.dumps(backtest) if backtest
                               else None, counts["D"] / customers, counts["D"]))
        execute_values(cur, "insert into ratings.model_monitoring (as_of_date, model_name, model_version,"
                       " rows_scored, grade_distribution, psi, backtest, default_share, defaults_rated)"
                       " values %s", monitoring)
        checks = []
        for d in dates:
            for stage, table in (("raw_finance", "raw_finance.invoices"), ("features", "marts.customer_features")):
                for j, kind in enumerate(("completeness", "range", "volume")):
                    ok = not (stage == "features" and kind == "range" and d == dates[-2])
                    checks.append((f"run_{d}", stage, f"{stage}_suite", table, d.isoformat(),
                                   f"expect_{kind}", kind, "{}", "critical" if j == 0 else "warning", ok,
                                   0 if ok else 3, customers, f"{kind} check on {table}"))
        execute_values(cur, "insert into audit.data_quality_results (run_id, stage, suite_name, table_name,"
                       " batch_key, expectation_type, check_kind, kwargs, severity, success, unexpected_count,"
                       " element_count, message) values %s", checks)
    return {"rated_dates": len(dates), "versions": len(versions), "warnings": len(warnings),
            "data_quality_results": len(checks)}
