"""`make demo`: simulated CRM and finance sources -> initial load -> crm_credit_risk_daily through Airflow.

Uses the embedded PostgreSQL unless AIRFLOW_CONN_WAREHOUSE / WAREHOUSE_URL point elsewhere, and the
local MLflow store. A second run reuses the simulated sources and history (same parameters) and reruns
the DAG for the same date, which replaces that date's rows: no duplicates.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date, timedelta

from common.paths import state_dir


def _already_done(marker: dict) -> bool:
    path = state_dir() / "demo.json"
    return path.exists() and json.loads(path.read_text()) == marker


def _mark_done(marker: dict) -> None:
    (state_dir() / "demo.json").write_text(json.dumps(marker, indent=2))


def summary(as_of: date) -> str:
    """Customers per grade, the decisions per grade, warnings, model version, and where to look next."""
    from common.config import load_config
    from common.warehouse import connect, one_row
    from ratings.monitoring import decision_mix, format_decision_mix, format_monitoring, monitoring_summary

    conn = connect()
    with conn.cursor() as cur:
        cur.execute(
            """
            select r.rating_grade, count(*)
            from ratings.customer_ratings r
            join ratings.rating_master_scale s on s.grade = r.rating_grade
            where r.as_of_date = %s group by r.rating_grade, s.grade_rank order by s.grade_rank
            """,
            (as_of,),
        )
        grades = cur.fetchall()
        cur.execute(
            "select distinct model_name, model_version from ratings.customer_ratings where as_of_date = %s",
            (as_of,),
        )
        models = cur.fetchall()
        cur.execute(
            "select opened_as, severity, count(*) from ratings.credit_warnings where first_seen_date = %s "
            "group by opened_as, severity order by opened_as desc, severity",
            (as_of,),
        )
        opened = cur.fetchall()
        cur.execute("select count(*) from ratings.credit_warnings where status = 'open'")
        open_total = one_row(cur)[0]
        mix = decision_mix(cur, as_of)
        monitored = monitoring_summary(cur, as_of)
    conn.close()
    total = sum(n for _, n in grades)
    lines = [f"Ratings for {as_of}: {total:,} customers rated"]
    lines += [f"  {grade:<4} {n:>7,}  {'#' * max(1, round(40 * n / max(total, 1)))}" for grade, n in grades]
    lines.append("Model used: " + ", ".join(f"{m} v{v}" for m, v in models))
    lines.append("Credit decisions by grade (config/limits.yml):")
    lines += format_decision_mix(mix)
    new = ", ".join(f"{n} {s}" for kind, s, n in opened if kind == "new") or "none"
    initial = ", ".join(f"{n} {s}" for kind, s, n in opened if kind == "initial")
    lines.append(f"Warnings opened today: {new} ({open_total} open in total)")
    if initial:
        lines.append(f"  already present on the first rated date (counted, not alerted): {initial}")
    lines.append("Model monitoring (ratings.model_monitoring, ratings.backtest_by_grade):")
    lines += format_monitoring(monitored, int(load_config("model")["horizon_months"]))
    state = state_dir()
    lines += [
        "",
        "Next steps:",
        "  Airflow UI:  make airflow            -> http://localhost:8080 (user admin, password in "
        f"{state / 'airflow' / 'simple_auth_manager_passwords.json.generated'})",
        f"  MLflow UI:   .venv/bin/mlflow ui --backend-store-uri sqlite:///{state / 'mlflow' / 'mlflow.db'}",
        '  Query:       eval "$(make -s airflow-env)"; psql "$AIRFLOW_CONN_WAREHOUSE" -c '
        "'select * from ratings.current_customer_ratings limit 10'",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=int(os.environ.get("DEMO_CUSTOMERS", 2000)))
    parser.add_argument("--history-start", type=date.fromisoformat, default=date(2023, 11, 1))
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 10, 31))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from devtools.local_airflow import airflow, airflow_env

    began = time.monotonic()
    env = airflow_env()  # starts the embedded warehouse when no connection is configured
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AIRFLOW_CONN_", "MLFLOW_"))})
    marker = {
        "customers": args.customers,
        "history_start": str(args.history_start),
        "as_of": str(args.as_of),
        "seed": args.seed,
        "warehouse": os.environ["AIRFLOW_CONN_WAREHOUSE"],
    }
    if _already_done(marker):
        print("demo: sources and history already built with these settings; rerunning the daily DAG only")
    else:
        from devtools.simulator import simulate
        from pipeline.bootstrap import load_history

        print(
            f"demo: simulating {args.customers:,} customers, {args.history_start} .. {args.as_of}", flush=True
        )
        simulate(args.customers, args.history_start, args.as_of, seed=args.seed)
        load_history(args.as_of)
        _mark_done(marker)
    run_date = args.as_of + timedelta(days=1)  # the run for interval [D, D+1) starts at D+1
    from ml.registry import champion_exists

    if not champion_exists():  # models come only from the training DAG; the daily DAG never trains
        print(f"demo: airflow dags test credit_model_training {run_date} (first champion)", flush=True)
        code = airflow(["dags", "test", "credit_model_training", run_date.isoformat()], env=env, check=False)
        if code != 0 or not champion_exists():
            raise SystemExit(f"demo: training produced no champion (exit {code}); see the task logs above")
    print(f"demo: airflow dags test crm_credit_risk_daily {run_date} (rates {args.as_of})", flush=True)
    code = airflow(["dags", "test", "crm_credit_risk_daily", run_date.isoformat()], env=env, check=False)
    if code != 0:
        raise SystemExit(f"demo: the DAG run failed (exit {code}); see the task logs above")
    print()
    print(summary(args.as_of))
    print(f"\ndemo: done in {time.monotonic() - began:.0f}s")


if __name__ == "__main__":
    main()
