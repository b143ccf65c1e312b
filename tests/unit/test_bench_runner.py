"""The benchmark runner reads each benchmark's figures and measures a real child process."""

import sys

from bench import run_all


def test_last_json_finds_the_final_summary_document_after_log_lines():
    text = 'progress {not json}\n{"a": 1}\nmore\n{\n  "rows": 10,\n  "nested": {"x": 2}\n}\ntrailing\n'
    assert run_all._last_json(text) == {"rows": 10, "nested": {"x": 2}}
    assert run_all._last_json("no figures here") is None


def test_peak_rss_measures_the_child_process_tree(tmp_path):
    import subprocess

    # the child holds ~200 MiB for a moment: the sampled peak must see it
    code = "b = bytearray(200 * 2**20); import time; time.sleep(1.0)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    exit_code, peak = run_all._peak_rss(proc)
    assert exit_code == 0
    assert peak > 150 * 2**20


def test_peer_benchmark_goal_is_read_from_its_figures():
    figures = {"goal_met": False, "datasets": {"credit_data": {
        "mean_auc": {"trainer": 0.80, "hist_gradient_boosting": 0.82}, "best_peer": "hist_gradient_boosting"}}}
    rows = [{"stage": "trainer vs peer libraries on public credit data", "peak_rss_mib": 100, "figures": figures}]
    goal = [g for g in run_all.goals(rows) if g[0].startswith("trainer's mean AUC")]
    assert goal == [("trainer's mean AUC at least the best peer library's on every public dataset",
                     "credit_data: 0.8000 vs hist_gradient_boosting 0.8200", False)]


def test_two_workers_goal_is_read_from_the_partitions_benchmark():
    def goal(figures: dict) -> tuple:
        rows = [{"stage": "scoring over 1 and 2 workers", "peak_rss_mib": 100, "figures": figures}]
        return next(g for g in run_all.goals(rows) if g[0].startswith("two workers"))

    assert goal({"customers": 1000, "cores": 2, "speedup": {"1": 1.0, "2": 1.5}})[1:] == (
        "1.5x at 1,000 customers on 2 cores", False)
    assert goal({"customers": 1000, "cores": 8, "speedup": {"1": 1.0, "2": 1.8}})[2] is True
    assert goal({})[1:] == ("not measured", None)
