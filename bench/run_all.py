"""`make bench`: run every stage benchmark as its own process and write one summary table.

    python -m bench.run_all                      # default sizes (minutes on 2 cores)
    python -m bench.run_all --customers 1000000  # the scale target (long: hours on 2 cores)

Each benchmark runs in a child process; the runner records its wall time and the peak resident memory
of that process tree (sampled every 0.2 s; the PostgreSQL server's own memory is not included), keeps
its full output under bench/results/<name>.log and its figures (the last JSON document it printed or
wrote), and writes bench/results/summary.md and summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from common.paths import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results"


def _stages(customers: int) -> dict[str, list[str]]:
    """Benchmark name -> command. Training is sized separately: it scales with snapshots, not days."""
    return {
        "ingest (simulate + extract/load vs bare COPY)": ["bench/bench_ingest.py", "--customers", str(customers)],
        "quality gate on a feature snapshot": ["bench/bench_gx.py", "--customers", str(customers)],
        "training + pyfunc vs bare predict": ["bench/bench_ml.py", "--customers", str(max(2000, customers // 20))],
        "scoring + publish ratings": ["bench/bench_scoring.py", "--customers", str(customers)],
    }


def _peak_rss(proc: subprocess.Popen) -> tuple[int, int]:
    """Wait for the process; return (exit code, peak RSS in bytes of it and its children)."""
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    return proc.returncode, peak


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
    log = RESULTS / (args[0].split("/")[-1].removesuffix(".py") + ".log")
    print(f"== {name}: {' '.join(args)}", flush=True)
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, *args], cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        code, peak = _peak_rss(proc)
    seconds = time.monotonic() - started
    text = log.read_text()
    figures = _last_json(text)
    print(f"   {'ok' if code == 0 else f'FAILED (exit {code})'} in {seconds:.0f}s, peak {peak / 2**20:.0f} MiB; "
          f"log {log.relative_to(REPO_ROOT)}", flush=True)
    return {"stage": name, "command": " ".join(["python", *args]), "exit_code": code,
            "wall_seconds": round(seconds, 1), "peak_rss_mib": round(peak / 2**20), "figures": figures}


def write_summary(rows: list[dict], customers: int) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps({"customers": customers, "stages": rows}, indent=2))
    lines = [f"# Benchmarks at {customers:,} customers", "",
             "| stage | wall time | peak memory | status | command |", "|---|---|---|---|---|"]
    for r in rows:
        status = "ok" if r["exit_code"] == 0 else f"failed ({r['exit_code']})"
        lines.append(f"| {r['stage']} | {r['wall_seconds']:.0f} s | {r['peak_rss_mib']} MiB | {status} | "
                     f"`{r['command']}` |")
    lines += ["", "Figures of each stage (rows/s, ratios to the baselines) are in summary.json and the logs."]
    path = RESULTS / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
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
