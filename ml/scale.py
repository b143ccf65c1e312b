"""The rating master scale and the PDO score scaling, read from config/rating_scale.yml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from common.config import load_config

DEFAULT_GRADE = "D"


@dataclass(frozen=True)
class Grade:
    """One grade of the master scale; rank 1 is the best."""

    grade: str
    rank: int
    pd_lower: float
    pd_upper: float
    description: str
    is_default: bool

    @property
    def pd_central(self) -> float:
        """Geometric mid-point of the band (the usual central tendency of a PD band)."""
        if self.is_default:
            return 1.0
        return float(np.sqrt(max(self.pd_lower, 1e-5) * self.pd_upper))


@dataclass(frozen=True)
class MasterScale:
    """The grades in order plus the scale's version."""

    version: str
    grades: tuple[Grade, ...]

    @property
    def performing(self) -> tuple[Grade, ...]:
        return tuple(g for g in self.grades if not g.is_default)

    def rank_of(self, grade: str) -> int:
        for g in self.grades:
            if g.grade == grade:
                return g.rank
        raise KeyError(f"grade {grade!r} is not on master scale {self.version}")

    def grade_for_pd(self, pd: np.ndarray, in_default: np.ndarray | None = None) -> np.ndarray:
        """Grade per PD; rows flagged in_default get the default grade whatever their PD."""
        pd = np.asarray(pd, dtype=float)
        performing = self.performing
        uppers = np.array([g.pd_upper for g in performing[:-1]])
        names = np.array([g.grade for g in performing], dtype=object)
        grades = names[np.searchsorted(uppers, pd, side="right")]
        if in_default is not None:
            grades = np.where(np.asarray(in_default, dtype=bool), DEFAULT_GRADE, grades)
        return grades


def _validate(grades: list[dict[str, Any]]) -> None:
    performing = [g for g in grades if not g.get("default")]
    if len(performing) < 8:
        raise ValueError(
            f"rating_scale.yml: master scale needs at least 8 non-default grades, has {len(performing)}"
        )
    if sum(1 for g in grades if g.get("default")) != 1:
        raise ValueError("rating_scale.yml: master scale needs exactly one default grade")
    if performing[0]["pd_lower"] != 0 or performing[-1]["pd_upper"] != 1:
        raise ValueError("rating_scale.yml: performing grades must cover PD from 0 to 1")
    for prev, nxt in zip(performing, performing[1:], strict=False):
        if prev["pd_upper"] != nxt["pd_lower"] or prev["pd_lower"] >= prev["pd_upper"]:
            raise ValueError(
                f"rating_scale.yml: grade bands must be increasing and contiguous: {prev['grade']} -> {nxt['grade']}"
            )


def load_master_scale(config: dict[str, Any] | None = None) -> MasterScale:
    """The master scale from config (validated: >= 8 performing grades + D, contiguous bands)."""
    config = config or load_config("rating_scale")
    raw = config["grades"]
    _validate(raw)
    grades = tuple(
        Grade(
            grade=str(g["grade"]),
            rank=i + 1,
            pd_lower=float(g["pd_lower"]),
            pd_upper=float(g["pd_upper"]),
            description=str(g["description"]),
            is_default=bool(g.get("default", False)),
        )
        for i, g in enumerate(raw)
    )
    return MasterScale(version=str(config["version"]), grades=grades)


def score_for_pd(pd: np.ndarray, config: dict[str, Any] | None = None) -> np.ndarray:
    """Score points by PDO scaling of the good:bad odds, clipped to the configured range."""
    scaling = (config or load_config("rating_scale"))["score_scaling"]
    factor = scaling["pdo"] / np.log(2)
    offset = scaling["base_score"] - factor * np.log(scaling["base_odds"])
    pd = np.clip(np.asarray(pd, dtype=float), 1e-6, 1 - 1e-6)
    score = offset + factor * np.log((1 - pd) / pd)
    return np.clip(np.rint(score), scaling["min_score"], scaling["max_score"]).astype(int)
