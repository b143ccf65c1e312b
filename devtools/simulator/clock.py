"""Simulator days (floats from --start) as timestamps and dates, and the as-of state of a changing row."""

from __future__ import annotations

import datetime as dt

import numpy as np


class Clock:
    """Converts simulator days (float, from --start) to timestamps and dates."""

    def __init__(self, start: dt.date):
        self.origin = np.datetime64(start, "s")

    def ts(self, days: np.ndarray) -> np.ndarray:
        finite = np.where(np.isfinite(days), days, 0.0)
        out = self.origin + (finite * 86400).astype("int64").astype("timedelta64[s]")
        return np.where(np.isfinite(days), out, np.datetime64("NaT"))

    def date(self, days: np.ndarray) -> np.ndarray:
        return self.ts(np.floor(days)).astype("datetime64[D]")

    def month(self, days: np.ndarray) -> np.ndarray:
        """Calendar month (0 = January) of each day."""
        return (self.date(days).astype("datetime64[M]").astype("int64") % 12).astype("int64")


def asof(cut: float, created: np.ndarray, *versions: np.ndarray) -> np.ndarray:
    """updated_at as of the cut: the latest version time that has happened (at least created)."""
    out = created.copy()
    for v in versions:
        out = np.where((v <= cut) & (v > out), v, out)
    return out
