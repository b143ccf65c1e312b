"""`make bench`: the whole pipeline at scale, stage by stage, with the baselines and the goals.

    python -m bench.run_all                          # 1,000,000 customers (+ 100,000 with a 30-day backfill)
    python -m bench.run_all --customers 100000       # a quicker run (10,000 for the backfill)
    python -m bench.run_all --only "end to end"      # some benchmarks only (substrings of their names)

Each benchmark runs in a child process; the runner records its wall time and the peak resident memory
of that process tree (sampled every 0.2 s; the PostgreSQL server's own memory is not included), keeps
its full output under bench/results/<name>.log and its figures (the last JSON document it printed),
and writes bench/results/summary.md and summary.json: one row per benchmark and per stage of the
end-to-end runs (wall time, rows/s, peak memory), the ratios to the baselines, and the goals met or
missed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.memory import PeakRss
from common.paths import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results"


def _stages(customers: int) -> dict[str, list[str]]:
    """Benchmark name -> python arguments (a module of bench/). The backfill runs at a tenth of the size."""
    small = max(2000, customers // 10)
    return {
        f"end to end at {customers:,}": ["-m", "bench.bench_pipeline", "--customers", str(customers),
                                          "--backfill-days", "1"],
        f"end to end at {small:,} + 30-day backfill": ["-m", "bench.bench_pipeline", "--customers", str(small),
                                                        "--backfill-days", "30"],
        "training + pyfunc vs bare predict": ["-m", "bench.bench_ml", "--customers", str(customers)],
        "scoring + publish ratings": ["-m", "bench.bench_scoring", "--customers", str(customers)],
        "scoring over 1 and 2 workers": ["-m", "bench.bench_partitions", "--customers", str(customers),
                                         "--workers", "1", "2"],
        "quality gate on a feature snapshot": ["-m", "bench.bench_gx", "--customers", str(customers)],
        "load vs bare COPY (both baselines)": ["-m", "bench.bench_ingest", "--customers", str(small)],
        "trainer vs peer libraries on public credit data": ["-m", "bench.bench_peers"],
        "credit desk check under load": ["-m", "bench.bench_desk", "--customers", str(min(customers, 100_000)),
                                         "--seconds", "60"],
        "credit event to rating visible": ["-m", "bench.bench_events", "--customers", str(min(customers, 100_000)),
                                           "--rate", "1", "--seconds", "300"],
    }


def _peak_rss(proc: subprocess.Popen) -> tuple[int, int]:
    """Wait for the process; return (exit code, peak RSS in bytes of it and its children)."""
    with PeakRss(psutil.Process(proc.pid), children=True, interval=0.2) as mem:
        proc.wait()
    return proc.returncode, mem.peak


def _last_json(text: str) -> dict | None:
    """The last JSON object a benchmark printed (they print one summary document)."""
    end = text.rfind("}")
    while end != -1:
        start = text.rfind("{", 0, end)
        while start != -1:
            try:
                return json.loads(text[start:end + 1])
            except json.JSONDecodeError:
                start = text.rfind("{", 0, start)
        end = text.rfind("}", 0, end)
    return None


def run(name: str, args: list[str]) -> dict:
    slug = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
    log = RESULTS / f"{re.sub('_+', '_', slug)}.log"
    print(f"== {name}: {' '.join(args)}", flush=True)
    started = time.monotonic()
    with open(log, "w") as out:
        # run as modules from the repository root, which is what puts the project's packages on the path
        proc = subprocess.Popen([sys.executable, *args], cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
        code, peak = _peak_rss(proc)
    seconds = time.monotonic() - started
    text = log.read_text()
    figures = _last_json(text)
    print(f"   {'ok' if code == 0 else f'FAILED (exit {code})'} in {seconds:.0f}s, peak {peak / 2**20:.0f} MiB; "
          f"log {log.relative_to(REPO_ROOT)}", flush=True)
    return {"stage": name, "command": " ".join(["python", *args]), "exit_code": code,
            "wall_seconds": round(seconds, 1), "peak_rss_mib": round(peak / 2**20), "figures": figures}


GOAL_DAILY_SECONDS = 240  # issue 21 (the earlier scale issue asked 600 s; 357 s was measured at 1M)
GOAL_RATIO = 0.6  # load vs bare COPY and scoring vs bare predict_proba, both at least this
GOAL_PEAK_MIB = 4096
GOAL_TWO_WORKERS = 1.6  # issue 21: two workers score at least this much faster than one


def goals(rows: list[dict]) -> list[tuple[str, str, bool | None]]:
    """(goal, measured, met) for the goals of the scale issue; met is None when not measured."""
    figures = {r["stage"]: r.get("figures") or {} for r in rows}
    e2e = [f for name, f in figures.items() if name.startswith("end to end") and f.get("stages")]
    largest = max(e2e, key=lambda f: f.get("customers", 0), default={})
    out: list[tuple[str, str, bool | None]] = []
    daily = next((s for s in largest.get("stages", []) if s["stage"].startswith("daily run")), None)
    if daily:
        out.append((f"daily incremental run at {largest['customers']:,} customers under {GOAL_DAILY_SECONDS} s",
                    f"{daily['seconds']:.0f} s", daily["seconds"] < GOAL_DAILY_SECONDS))
    # the end-to-end runs: their pipeline stages (their process also runs the baselines, e.g. pandas)
    peaks = [r["peak_rss_mib"] for r in rows if not (r.get("figures") or {}).get("stages")]
    peaks += [s["peak_rss_mib"] for f in e2e for s in f["stages"] if not s["stage"].startswith("baseline")]
    if peaks:
        out.append((f"peak memory under {GOAL_PEAK_MIB} MiB (pipeline stages, any size)", f"{max(peaks):,} MiB",
                    max(peaks) < GOAL_PEAK_MIB))
    load = largest.get("load_ratio_vs_bare_copy")
    out.append((f"load at least {GOAL_RATIO}x a bare COPY", f"{load}" if load is not None else "not measured",
                None if load is None else load >= GOAL_RATIO))
    ml = next((f for name, f in figures.items() if name.startswith("training")), {})
    scoring = ml.get("ratio_pyfunc_vs_bare")
    out.append((f"scoring at least {GOAL_RATIO}x the bare predict_proba",
                f"{scoring}" if scoring is not None else "not measured",
                None if scoring is None else scoring >= GOAL_RATIO))
    pandas = largest.get("feature_build_vs_pandas") or {}
    if pandas.get("ratio_pandas_seconds_over_dbt") is not None:
        t, m = pandas["ratio_pandas_seconds_over_dbt"], pandas.get("ratio_pandas_memory_over_dbt")
        out.append(("feature build faster and leaner than plain pandas",
                    f"pandas/dbt time {t}, memory {m}", t > 1 and (m or 0) > 1))
    else:
        out.append(("feature build faster and leaner than plain pandas", "not measured", None))
    peers = next((f for name, f in figures.items() if name.startswith("trainer vs peer")), {})
    measured = ", ".join(
        f"{d}: {r['mean_auc']['trainer']:.4f} vs {r['best_peer']} {r['mean_auc'][r['best_peer']]:.4f}"
        for d, r in peers.get("datasets", {}).items()
    )
    out.append(("trainer's mean AUC at least the best peer library's on every public dataset",
                measured or "not measured", peers.get("goal_met") if peers else None))
    events = next((f for name, f in figures.items() if name.startswith("credit event")), {})
    p95 = events.get("latency_p95_s")
    # customers never seen re-rated are reported, not counted against the goal: an event that writes an
    # account off or credit-stops it takes the customer out of the rating population (docs/events.md)
    out.append(("credit event to rating visible to bi_reader, p95 under 60 s",
                f"p95 {p95} s at {events.get('customers', 0):,} customers, {events.get('rerated_seen', 0)} seen "
                f"re-rated, {events.get('never_seen', 0)} never (left the population or missed)"
                if p95 is not None else "not measured",
                None if p95 is None else p95 < 60))
    workers = next((f for name, f in figures.items() if name.startswith("scoring over")), {})
    two = (workers.get("speedup") or {}).get("2")
    out.append((f"two workers score at least {GOAL_TWO_WORKERS}x as fast as one",
                f"{two}x at {workers.get('customers', 0):,} customers on {workers.get('cores')} cores"
                if two is not None else "not measured",
                None if two is None else two >= GOAL_TWO_WORKERS))
    desk = next((f for name, f in figures.items() if name.startswith("credit desk")), {})
    out.append(("credit desk check p99 under 25 ms at 300 requests/s",
                f"p99 {desk['p99_ms']} ms at {desk['requests_per_s']} requests/s, {desk['failures']} failures"
                if desk.get("p99_ms") is not None else "not measured",
                desk.get("goal_met") if desk else None))
    return out


def _rate(value: object) -> str:
    return f"{value:,}" if isinstance(value, int | float) and value else ""


def write_summary(rows: list[dict], customers: int) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    checked = goals(rows)
    (RESULTS / "summary.json").write_text(json.dumps(
        {"customers": customers, "stages": rows,
         "goals": [{"goal": g, "measured": m, "met": ok} for g, m, ok in checked]}, indent=2, default=str))
    lines = [f"# Benchmarks at {customers:,} customers", "",
             "| benchmark / stage | wall time | rows/s | peak memory | status |", "|---|---|---|---|---|"]
    for r in rows:
        status = "ok" if r["exit_code"] == 0 else f"failed ({r['exit_code']})"
        lines.append(f"| **{r['stage']}** | {r['wall_seconds']:,.0f} s | | {r['peak_rss_mib']:,} MiB | {status} |")
        for stage in (r.get("figures") or {}).get("stages", []):
            lines.append(f"| &nbsp;&nbsp;{stage['stage']} | {stage['seconds']:,.1f} s | {_rate(stage.get('rows_per_s'))} "
                         f"| {stage['peak_rss_mib']:,} MiB | |")
    lines += ["", "| goal | measured | met |", "|---|---|---|"]
    lines += [f"| {g} | {m} | {'yes' if ok else 'no' if ok is not None else '-'} |" for g, m, ok in checked]
    lines += ["", "Commands, full figures and the logs: summary.json and bench/results/*.log."]
    path = RESULTS / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="*", help="substrings of stage names to run")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stages = _stages(args.customers)
    chosen = {k: v for k, v in stages.items() if not args.only or any(s in k for s in args.only)}
    rows = [run(name, cmd) for name, cmd in chosen.items()]
    path = write_summary(rows, args.customers)
    print()
    print(path.read_text())
    if any(r["exit_code"] != 0 for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
