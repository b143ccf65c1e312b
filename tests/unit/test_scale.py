"""Master scale and score scaling."""

import numpy as np
import pytest

from ml.scale import load_master_scale, score_for_pd


def test_grades_follow_pd_bands_and_default_flag_wins():
    scale = load_master_scale()
    pd = np.array([0.0001, 0.003, 0.0099, 0.01, 0.05, 0.9])
    grades = scale.grade_for_pd(pd, in_default=np.array([0, 0, 0, 0, 0, 1]))
    assert list(grades) == ["AAA", "AA", "A", "BBB", "B", "D"]


def test_scale_has_at_least_eight_performing_grades_plus_default():
    scale = load_master_scale()
    assert len(scale.performing) >= 8
    assert scale.grades[-1].grade == "D" and scale.grades[-1].is_default
    assert all(g.pd_lower < g.pd_central <= g.pd_upper for g in scale.performing)


def test_gap_in_bands_is_rejected():
    bounds = [0, 0.01, 0.02, 0.04, 0.08, 0.16, 0.3, 0.5, 1.0]
    grades = [{"grade": f"G{i}", "pd_lower": lo, "pd_upper": hi, "description": ""}
              for i, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False))]
    grades[3]["pd_upper"] = 0.05  # overlaps the next band
    bad = {"version": "x", "grades": grades + [
        {"grade": "D", "pd_lower": 1, "pd_upper": 1, "description": "", "default": True}]}
    with pytest.raises(ValueError, match="contiguous"):
        load_master_scale(bad)


def test_pdo_doubles_odds_every_pdo_points():
    # base odds 50:1 -> 600 points; odds 100:1 -> 620 points
    pd_base = 1 / 51
    pd_double = 1 / 101
    assert score_for_pd(np.array([pd_base]))[0] == 600
    assert score_for_pd(np.array([pd_double]))[0] == 620
    assert score_for_pd(np.array([0.9999]))[0] == 300  # clipped at min_score
