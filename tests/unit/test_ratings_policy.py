"""Segments, limit policy, decisions, warning rules and PSI on crafted frames (no database)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml.evaluate import jeffreys_test, psi
from ml.scale import load_master_scale
from ratings.limits import decide, load_limit_policy, recommended_limits
from ratings.monitoring import format_decision_mix, format_monitoring, grade_shares
from ratings.scoring import RatingContext, check_predictions, rate_frame
from ratings.segments import load_segments, segment_for_grade
from ratings.staging import pg_text_array
from ratings.warnings_rules import evaluate_rules, load_rules, ref_column


@pytest.fixture(scope="module")
def ctx() -> RatingContext:
    return RatingContext.from_config()


def test_every_grade_has_exactly_one_segment_with_a_review_frequency(ctx: RatingContext) -> None:
    grades = [g.grade for g in ctx.scale.grades]
    segs = segment_for_grade(np.array(grades, dtype=object), ctx.segments)
    assert list(segs) == ["low"] * 3 + ["medium"] * 2 + ["high"] * 2 + ["very_high"] * 2
    months = {s.name: s.review_frequency_months for s in ctx.segments}
    assert months == {"low": 12, "medium": 6, "high": 3, "very_high": 1}


def test_segments_config_missing_a_grade_is_refused() -> None:
    config = {"segments": [{"name": "all", "grades": ["AAA"], "review_frequency_months": 1, "description": "x"}]}
    with pytest.raises(ValueError, match="exactly once"):
        load_segments(config, load_master_scale())


def test_segment_name_that_is_not_an_identifier_is_refused() -> None:
    scale = load_master_scale()
    config = {"segments": [{"name": "low; drop table x", "grades": [g.grade for g in scale.grades],
                            "review_frequency_months": 1, "description": "x"}]}
    with pytest.raises(ValueError, match="lower_snake_case"):
        load_segments(config, scale)


def _limit_frame(**cols) -> pd.DataFrame:
    base = {
        "rating_grade": ["A"], "invoice_amount_12m": [120_000.0], "open_receivables": [10_000.0],
        "credit_limit": [20_000.0],
    }
    base.update(cols)
    return pd.DataFrame(base)


def test_recommended_limit_is_months_of_sales_rounded_down(ctx: RatingContext) -> None:
    # A: 5.5 months of 2,000 monthly sales = 11,000; increase cap 30,000; rounded down to 100.
    frame = _limit_frame(invoice_amount_12m=[24_010.0], open_receivables=[0.0])
    assert recommended_limits(frame, ctx.policy)[0] == 11_000  # 11,004.6 rounded down


def test_a_new_customer_s_sales_are_averaged_over_the_months_it_has_traded(ctx: RatingContext) -> None:
    # 4 months of tenure: 8,000 invoiced is 2,000 a month, not 667 (8,000 / 12).
    frame = _limit_frame(invoice_amount_12m=[8_000.0, 8_000.0], tenure_months=[4, 40], open_receivables=[0.0, 0.0],
                         rating_grade=["A", "A"], credit_limit=[20_000.0, 20_000.0])
    assert list(recommended_limits(frame, ctx.policy)) == [11_000, 3_600]


def test_recommended_limit_covers_exposure_for_good_grades_but_not_for_weak(ctx: RatingContext) -> None:
    good = _limit_frame(rating_grade=["AA"], invoice_amount_12m=[12_000.0], open_receivables=[15_000.0])
    weak = _limit_frame(rating_grade=["CC"], invoice_amount_12m=[12_000.0], open_receivables=[15_000.0])
    assert recommended_limits(good, ctx.policy)[0] == 22_500  # 15,000 x 1.50 over 6 x 1,000
    assert recommended_limits(weak, ctx.policy)[0] == 2_000  # 2 x 1,000: CC does not cover exposure


def test_recommended_limit_respects_increase_cap_new_customer_cap_and_house_limit(ctx: RatingContext) -> None:
    frame = pd.DataFrame({
        "rating_grade": ["AAA", "AAA", "AAA"],
        "invoice_amount_12m": [1_200_000.0, 1_200_000.0, 1e9],
        "open_receivables": [0.0, 0.0, 0.0],
        "credit_limit": [100_000.0, np.nan, 1e8],
    })
    assert list(recommended_limits(frame, ctx.policy)) == [150_000, 50_000, 2_000_000]


def test_default_grade_gets_zero_limit_and_hold(ctx: RatingContext) -> None:
    frame = _limit_frame(rating_grade=["D"], risk_segment=["very_high"], dpd_current=[0], limit_utilisation=[0.5])
    frame["recommended_credit_limit"] = recommended_limits(frame, ctx.policy)
    decision, rationale = decide(frame, ctx.policy)
    assert frame["recommended_credit_limit"][0] == 0
    assert decision[0] == "hold" and "default" in rationale[0]


def test_decisions_follow_hold_reduce_review_approve_order(ctx: RatingContext) -> None:
    frame = pd.DataFrame({
        "rating_grade": ["A", "BBB", "CCC", "A", "AA"],
        "risk_segment": ["low", "medium", "high", "low", "low"],
        "recommended_credit_limit": [20_000, 5_000, 20_000, 20_000, 20_000],
        "credit_limit": [20_000, 20_000, 20_000, 20_000, 20_000],
        "dpd_current": [120, 0, 0, 0, 0],
        "limit_utilisation": [0.5, 0.5, 0.5, 0.95, 0.5],
    })
    decision, rationale = decide(frame, ctx.policy)
    assert list(decision) == ["hold", "reduce", "review", "review", "approve"]
    assert rationale[0].startswith("Hold: 120 days past due > 90")
    assert "grade CCC is always reviewed" in rationale[2]
    assert "utilisation 95% > 90%" in rationale[3]
    assert all(len(r) < 200 for r in rationale)


def test_the_rationale_names_the_numbers_behind_the_limit(ctx: RatingContext) -> None:
    frame = pd.DataFrame({
        "rating_grade": ["BBB", "A", "AAA"],
        "risk_segment": ["medium", "low", "low"],
        "invoice_amount_12m": [24_000.0, 12_000.0, 120_000.0],
        "open_receivables": [0.0, 9_000.0, 0.0],
        "credit_limit": [20_000.0, 10_000.0, 20_000.0],
        "dpd_current": [0, 0, 0],
        "limit_utilisation": [0.0, 0.9, 0.0],
    })
    frame["recommended_credit_limit"] = recommended_limits(frame, ctx.policy)
    decision, rationale = decide(frame, ctx.policy)
    assert list(decision) == ["reduce", "approve", "approve"]
    assert rationale[0] == ("Reduce: grade BBB supports 10,000 (5 months x 2,000/month = 10,000), "
                            "more than 20% below the current 20,000")
    assert "open x 1.5 = 13,500" in rationale[1] and "recommended 13,500" in rationale[1]
    assert "capped at +50% = 30,000" in rationale[2] and "6.5 months x 10,000/month = 65,000" in rationale[2]


def test_recommendations_never_exceed_the_policy_caps(ctx: RatingContext) -> None:
    rng = np.random.default_rng(3)
    n = 5_000
    grades = [g.grade for g in ctx.scale.grades]
    current = np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(9, 2, n))
    frame = pd.DataFrame({
        "rating_grade": rng.choice(grades, n),
        "invoice_amount_12m": rng.lognormal(10, 2.5, n),
        "open_receivables": rng.lognormal(9, 2.5, n),
        "credit_limit": current,
        "tenure_months": rng.integers(0, 200, n),
    })
    rec = recommended_limits(frame, ctx.policy)
    policy = ctx.policy
    assert (rec >= policy.min_limit).all() and (rec <= policy.max_limit).all()
    has = ~np.isnan(current)
    assert (rec[has] <= np.maximum(current[has] * (1 + policy.max_increase_pct), current[has]) + 1e-6).all()
    assert (rec[~has] <= policy.new_customer_max).all()
    assert (rec % policy.rounding_step == 0).all()


def test_limit_policy_refuses_unknown_grades() -> None:
    scale = load_master_scale()
    from common.config import load_config

    config = dict(load_config("limits"))
    config["months_of_sales"] = {"AAA": 1.0}
    with pytest.raises(ValueError, match="each grade"):
        load_limit_policy(config, scale)


def test_all_configured_rules_load_with_their_thresholds() -> None:
    rules = {r.code: r for r in load_rules()}
    assert {"PD_HIGH", "DOWNGRADE_2N", "DPD_30", "UTILISATION_90", "SCORE_DROP_30D", "COMPLAINT_SPIKE",
            "BUREAU_DOWNGRADE", "NEW_DEFAULT"} <= set(rules)
    assert rules["DPD_30"].comparison == "gt" and rules["DPD_30"].threshold == 30
    assert rules["DPD_30"].severity == "critical"


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"code": "x-1"}, "UPPER_SNAKE_CASE"),
        ({"metric": "pd_12m; drop"}, "unknown metric"),
        ({"comparison": "between"}, "comparison"),
        ({"severity": "fatal"}, "severity"),
        ({"metric": "score_drop"}, "lookback_days"),
    ],
)
def test_invalid_rule_config_is_refused(bad: dict, match: str) -> None:
    rule = {"code": "OK_RULE", "description": "d", "metric": "pd_12m", "comparison": "gt", "threshold": 1,
            "severity": "info"}
    rule.update(bad)
    with pytest.raises(ValueError, match=match):
        load_rules({"rules": [rule]})


def test_rules_fire_on_their_thresholds_and_not_on_missing_values() -> None:
    rules = load_rules()
    d = date(2026, 3, 31)
    frame = pd.DataFrame({
        "customer_id": ["hit", "calm", "nulls"],
        "as_of_date": [d, d, d],
        "pd_12m": [0.2, 0.01, 0.01],
        "score": [500, 700, 700],
        "grade_rank": [7, 3, 3],
        ref_column("grade_rank", 30): [4.0, 3.0, np.nan],
        ref_column("score", 30): [560.0, 700.0, np.nan],
        "dpd_current": [31, 30, None],
        "limit_utilisation": [0.95, 0.9, None],
        "complaint_count_3m": [3, 1, None],
        "complaint_count_12m": [3, 4, None],
        "bureau_score_change_6m": [-150, -99, None],
        "in_default": [1, 0, None],
        "last_default_date": [date(2026, 3, 10), None, None],
    })
    hits = evaluate_rules(frame, rules, "7")
    assert set(hits.loc[hits.customer_id == "hit", "rule_code"]) == {r.code for r in rules}
    assert hits.loc[hits.customer_id != "hit"].empty
    dpd = hits.loc[hits.rule_code == "DPD_30"].iloc[0]
    assert dpd.metric_value == 31 and dpd.threshold == 30 and dpd.severity == "critical"
    assert "> 30" in dpd.message and dpd.model_version == "7"
    assert hits.loc[hits.rule_code == "NEW_DEFAULT", "metric_value"].iloc[0] == 21


def test_psi_is_zero_for_the_training_mix_and_grows_with_shift() -> None:
    train = {"A": 0.5, "B": 0.5}
    assert psi(train, grade_shares({"A": 50, "B": 50})) == pytest.approx(0.0)
    assert psi(train, grade_shares({"A": 90, "B": 10})) > 0.25


def test_psi_floors_a_grade_missing_on_one_side_then_renormalises_both() -> None:
    # D is rated today but has no share in the training mix: it counts with the floor share, and the
    # training side is rescaled to sum to 1 again (the monitoring values since the first release).
    train, today = {"A": 0.5, "B": 0.5}, grade_shares({"A": 50, "B": 40, "D": 10})
    e = np.array([0.5, 0.5, 1e-4]) / 1.0001
    a = np.array([0.5, 0.4, 0.1])
    assert psi(train, today) == pytest.approx(float(np.sum((a - e) * np.log(a / e))), rel=1e-12)


def test_model_output_breaking_the_contract_is_refused(ctx: RatingContext) -> None:
    good = pd.DataFrame({"pd_12m": [0.01], "score": [650], "rating_grade": ["BBB"], "reason_codes": [["PAY01"]]})
    check_predictions(good, 1, ctx.scale)
    with pytest.raises(ValueError, match="rows"):
        check_predictions(good, 2, ctx.scale)
    with pytest.raises(ValueError, match="master scale"):
        check_predictions(good.assign(rating_grade=["Z"]), 1, ctx.scale)
    with pytest.raises(ValueError, match="probability"):
        check_predictions(good.assign(pd_12m=[1.5]), 1, ctx.scale)


def test_rate_frame_adds_segment_limit_and_decision(ctx: RatingContext) -> None:
    features = pd.DataFrame({
        "customer_id": ["c1"], "as_of_date": [date(2026, 1, 31)], "invoice_amount_12m": [120_000.0],
        "open_receivables": [5_000.0], "credit_limit": [10_000.0], "dpd_current": [0], "limit_utilisation": [0.5],
    })
    pred = pd.DataFrame({"pd_12m": [0.03], "score": [590], "rating_grade": ["BB"], "reason_codes": [["PAY01"]]})
    rated = rate_frame(features, pred, ctx)
    row = rated.iloc[0]
    assert (row.risk_segment, row.grade_rank, row.decision) == ("medium", 5, "approve")
    assert row.recommended_credit_limit == 15_000  # 4.5 months = 45,000, capped at +50% = 15,000


def test_reason_codes_become_a_postgres_text_array_literal() -> None:
    assert pg_text_array(["PAY01", 'we"ird']) == '{"PAY01","we\\"ird"}'
    assert pg_text_array([]) == "{}"
    assert pg_text_array(None) == "{}"


def test_the_decision_mix_table_lists_each_grade_then_totals_and_shares() -> None:
    lines = format_decision_mix({"A": {"approve": 3, "reduce": 1}, "D": {"hold": 1}})
    assert lines[0].split() == ["grade", "approve", "review", "reduce", "hold"]
    assert lines[1].split() == ["A", "3", "0", "1", "0"] and lines[2].split() == ["D", "0", "0", "0", "1"]
    assert lines[3].split() == ["all", "3", "0", "1", "1"]
    assert lines[4].split() == ["share", "60.0%", "0.0%", "20.0%", "20.0%"]


def test_monitoring_summary_reads_the_psi_and_says_when_nothing_has_matured() -> None:
    lines = format_monitoring((0.031, 0.004, None, None), horizon_months=12)
    assert lines[0] == "  PSI 0.031 against training, performing grades (stable)"
    assert "rated in default (D): 0.4%; new defaults today: n/a on a first rated date" in lines[1]
    assert "no rated date has matured yet (each matures 12 months after it is rated)" in lines[2]
    assert "(material shift)" in format_monitoring((0.31, 0.0, 3, None), horizon_months=12)[0]
    assert format_monitoring(None, horizon_months=12) == ["  no monitoring row for this date (not rated)"]


def test_monitoring_summary_shows_the_latest_back_test_per_grade_with_its_verdict() -> None:
    grades = {}
    for grade, customers, defaults, mean_pd in (("A", 400, 1, 0.004), ("CCC", 50, 12, 0.08)):
        test = jeffreys_test(defaults, customers, mean_pd, 0.05)
        grades[grade] = {"customers": customers, "defaults": defaults, "default_rate": defaults / customers,
                         "mean_pd": mean_pd, "verdict": test["verdict"]}
    backtest = {"cohort_date": "2025-01-31", "horizon_end_date": "2026-01-31", "customers": 450, "defaults": 13,
                "grades": grades}
    lines = format_monitoring((0.05, 0.01, 2, backtest), horizon_months=12)
    assert lines[2] == "  back-test of 2025-01-31 (matured 2026-01-31): 13 defaults in 450 customers"
    assert lines[3] == "    A    PD 0.40% vs realised 0.25% (400): ok"
    # 12 of 50 against a PD of 8 %: the grade's PD is too low, and the summary says so
    assert lines[4] == "    CCC  PD 8.00% vs realised 24.00% (50): underestimates"
