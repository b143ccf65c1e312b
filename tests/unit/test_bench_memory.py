"""The benchmarks' one memory sampler sees what a process holds while it runs."""

from __future__ import annotations

import time

from bench.memory import PeakRss


def test_peak_rss_sees_an_allocation_made_and_freed_inside_the_block():
    with PeakRss(interval=0.01) as mem:
        block = bytearray(200 * 2**20)
        time.sleep(0.2)
        del block
    assert mem.peak - mem.base > 150 * 2**20
    assert mem.peak_mib == round(mem.peak / 2**20)


def test_a_sampler_keeps_the_peak_of_every_figure_its_measure_returns():
    class Counting(PeakRss):
        def __init__(self) -> None:
            super().__init__(interval=0.01)
            self.calls = 0

        def measure(self) -> dict[str, int]:
            self.calls += 1
            return {"rss": 1, "calls": self.calls, "falling": 100 - self.calls}

    with Counting() as mem:
        time.sleep(0.1)
    assert mem.peaks["calls"] == mem.calls >= 3  # entry, the thread's samples, exit
    assert mem.peaks["falling"] == 99 and mem.last["falling"] == 100 - mem.calls
