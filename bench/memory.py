"""Peak resident memory of the running benchmark process, sampled in a thread."""

from __future__ import annotations

import threading
import time

import psutil


class PeakRss:
    """Samples this process's resident set size in a thread; .peak is the maximum seen (bytes)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.proc, self.interval, self.peak = psutil.Process(), interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self.base = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
