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
