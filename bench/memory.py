"""The benchmarks' one memory sampler: peak resident memory of a process (and its children), sampled in a thread."""

from __future__ import annotations

import threading

import psutil


def tree_rss(root: psutil.Process, children: bool = True) -> int:
    """Resident set size in bytes of a process and, with `children`, all its descendants, right now.

    A process that ends while it is read counts as nothing; 0 when the root itself is gone.
    """
    try:
        procs = [root, *root.children(recursive=True)] if children else [root]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


class PeakRss:
    """Samples the resident memory of a process (default: this one) every `interval` seconds in a thread.

    `.peak` is the maximum seen in bytes (samples on entry and exit included), `.base` the size on entry.
    `measure()` is one sample; a subclass may extend it with figures that must be sampled at the same
    instant (`.peaks` keeps the maximum of each name it returns, `.last` the latest sample).
    """

    def __init__(self, process: psutil.Process | None = None, *, children: bool = False,
                 interval: float = 0.05) -> None:
        self.proc, self.children, self.interval = process or psutil.Process(), children, interval
        self.peaks: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.base = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def measure(self) -> dict[str, int]:
        """One sample: name -> bytes. Here the resident set size (`rss`) of the process (tree)."""
        return {"rss": tree_rss(self.proc, self.children)}

    @property
    def peak(self) -> int:
        return self.peaks.get("rss", 0)

    @property
    def peak_mib(self) -> int:
        return round(self.peak / 2**20)

    def sample(self) -> dict[str, int]:
        """Take one sample now and fold it into the peaks."""
        values = self.measure()
        with self._lock:
            self.last = values
            for name, value in values.items():
                self.peaks[name] = max(self.peaks.get(name, 0), value)
        return values

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> PeakRss:
        self.base = self.sample().get("rss", 0)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
