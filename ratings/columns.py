"""Columns of a rated frame read as numbers: one rule for absent columns and unparsable values."""

from __future__ import annotations

import numpy as np
import pandas as pd


def numeric_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The column as float64; NaN where a value is missing or not a number, all NaN if the column is absent."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
