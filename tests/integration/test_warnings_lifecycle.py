"""Warning episodes on crafted data: open, continue, resolve; reruns and out-of-order backfills."""

from __future__ import annotations

import random
from datetime import date, timedelta

import psycopg2
import pytest

from common.warehouse import transaction
from ml.registry import Champion
from ratings.publish import score_and_publish
from tests.helpers.ratings import CraftedModel, calm_features, load_features
from tests.helpers.sql import fetch

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


# DPD_30 holds for: c1 on D1, D2 (clears D3); c2 from D2 on; c3 on D1 and D3 (gap on D2).
SCENARIO = {D1: {"c1": 45, "c3": 40}, D2: {"c1": 50, "c2": 35}, D3: {"c2": 60, "c3": 31}}


def publish(url: str, d: date, model: CraftedModel | None = None, dpd: dict | None = None):
    load_features(url, calm_features(d, SCENARIO[d] if dpd is None else dpd))
    return score_and_publish(d, f"run-{d}", url, champion=Champion("crm_credit_pd", "3", model or CraftedModel()))


def episodes(url: str) -> list[tuple]:
    return fetch(url, "select customer_id, first_seen_date, last_seen_date, status, resolved_date, metric_value"
                 " from ratings.credit_warnings where rule_code = 'DPD_30' order by 1, 2")


EXPECTED = [
    ("c1", D1, D2, "resolved", D3, 50.0),
    ("c2", D2, D3, "open", None, 60.0),
    ("c3", D1, D1, "resolved", D2, 40.0),
    ("c3", D3, D3, "open", None, 31.0),
]


@pytest.mark.usefixtures("bi_views")
def test_episode_opens_continues_and_resolves(warehouse_url: str) -> None:
    r1 = publish(warehouse_url, D1)
    # the first rated date: both conditions were already there, so they open as initial, not as news
    assert (r1.warnings_opened, r1.warnings_initial, r1.warnings_continued, r1.warnings_resolved) == (0, 2, 0, 0)
    assert r1.new_critical_warnings == 0
    r2 = publish(warehouse_url, D2)
    assert (r2.warnings_opened, r2.warnings_continued, r2.warnings_resolved) == (1, 1, 1)
    open_after_d2 = fetch(warehouse_url, "select customer_id, first_seen_date, last_seen_date, days_open"
                          " from ratings.open_credit_warnings order by 1")
    assert open_after_d2 == [("c1", D1, D2, 2), ("c2", D2, D2, 1)]
    r3 = publish(warehouse_url, D3)
    assert (r3.warnings_opened, r3.warnings_continued, r3.warnings_resolved) == (1, 1, 1)
    assert r3.new_critical_warnings == 1  # c3's second episode is news
    assert episodes(warehouse_url) == EXPECTED
    # the six daily hits are stored as the four runs above, with the values of each run's first day,
    # and nothing of them stays staged
    assert fetch(warehouse_url, "select customer_id, first_seen_date, first_metric_value from ratings.credit_warnings"
                 " order by 1, 2") == [("c1", D1, 45.0), ("c2", D2, 35.0), ("c3", D1, 40.0), ("c3", D3, 31.0)]
    assert fetch(warehouse_url, "select count(*) from ratings_stage.warning_observations")[0][0] == 0


def test_rerun_keeps_episodes_and_warning_ids(warehouse_url: str) -> None:
    for d in (D1, D2, D3):
        publish(warehouse_url, d)
    before = fetch(warehouse_url, "select * from ratings.credit_warnings order by warning_id")
    publish(warehouse_url, D2)
    publish(warehouse_url, D3)
    assert fetch(warehouse_url, "select * from ratings.credit_warnings order by warning_id") == before


@pytest.mark.parametrize("order", [(D3, D1, D2), (D1, D3, D2)])
def test_backfill_in_any_order_gives_the_same_episodes(warehouse_url: str, order: tuple[date, ...]) -> None:
    for d in order:
        publish(warehouse_url, d)
    assert episodes(warehouse_url) == EXPECTED


def test_rerun_with_changed_data_merges_and_splits_episodes(warehouse_url: str) -> None:
    for d in (D1, D2, D3):
        publish(warehouse_url, d)
    c3_id = fetch(warehouse_url, "select warning_id from ratings.credit_warnings where customer_id = 'c3'"
                  " and first_seen_date = %s", (D1,))[0][0]
    # D2 corrected: c3 was past due on D2 as well (gap closes), c1 was not (c1's episode shrinks to D1).
    publish(warehouse_url, D2, dpd={"c2": 35, "c3": 33})
    got = episodes(warehouse_url)
    assert got == [
        ("c1", D1, D1, "resolved", D2, 45.0),
        ("c2", D2, D3, "open", None, 60.0),
        ("c3", D1, D3, "open", None, 31.0),
    ]
    assert fetch(warehouse_url, "select warning_id from ratings.credit_warnings where customer_id = 'c3'")[0][0] == c3_id
    # and back: the split reappears exactly
    publish(warehouse_url, D2)
    assert episodes(warehouse_url) == EXPECTED


def test_downgrade_and_score_drop_compare_with_the_rating_a_month_before(warehouse_url: str) -> None:
    model = CraftedModel()
    early, late = date(2026, 1, 1), date(2026, 1, 31)
    model.by_customer = {"c1": (0.015, 620, "BBB"), "c2": (0.015, 620, "BBB")}
    publish(warehouse_url, early, model, dpd={})
    model.by_customer = {"c1": (0.05, 570, "B"), "c2": (0.03, 600, "BB")}  # c1: 2 notches, -50 points
    result = publish(warehouse_url, late, model, dpd={})
    got = fetch(warehouse_url, "select customer_id, rule_code, metric_value, severity from ratings.credit_warnings"
                " where first_seen_date = %s order by 1, 2", (late,))
    assert got == [("c1", "DOWNGRADE_2N", 2.0, "warning"), ("c1", "SCORE_DROP_30D", 50.0, "warning")]
    assert result.new_critical_warnings == 0  # both rules are severity warning, not critical


def test_new_default_and_other_feature_rules_open_their_own_episodes(warehouse_url: str) -> None:
    frame = calm_features(D1, {}).assign(
        limit_utilisation=[0.95, 0.2, 0.2, 0.2], complaint_count_3m=[0, 4, 0, 0], complaint_count_12m=[0, 4, 0, 0],
        bureau_score_change_6m=[0, 0, -150, 0], in_default=[0, 0, 0, 1],
        last_default_date=[None, None, None, D1 - timedelta(days=3)],
    )
    load_features(warehouse_url, frame)
    model = CraftedModel()
    model.by_customer = {"c4": (1.0, 300, "D")}
    score_and_publish(D1, "run", warehouse_url, champion=Champion("crm_credit_pd", "3", model))
    got = fetch(warehouse_url, "select customer_id, rule_code, severity from ratings.credit_warnings order by 1, 2")
    assert got == [("c1", "UTILISATION_90", "warning"), ("c2", "COMPLAINT_SPIKE", "info"),
                   ("c3", "BUREAU_DOWNGRADE", "warning"), ("c4", "NEW_DEFAULT", "critical"),
                   ("c4", "PD_HIGH", "warning")]


def test_two_open_episodes_of_one_customer_and_rule_are_impossible(warehouse_url: str) -> None:
    insert = ("insert into ratings.credit_warnings (customer_id, rule_code, severity, message, first_seen_date,"
              " last_seen_date, status) values ('c1', 'DPD_30', 'critical', 'x', %s, %s, 'open')")
    with pytest.raises(psycopg2.errors.UniqueViolation), transaction(warehouse_url) as cur:
        cur.execute(insert, (D1, D1))
        cur.execute(insert, (D2, D2))


def expected_runs(scenario: dict[date, dict[str, int]]) -> list[tuple]:
    """DPD_30 episodes computed in Python from the days past due of each rated date: runs of
    consecutive rated dates with dpd > 30, with the values of their first and last day."""
    dates = sorted(scenario)
    runs: list[tuple] = []
    for customer in ("c1", "c2", "c3", "c4"):
        start = None
        for i, d in enumerate(dates + [None]):
            holds = d is not None and scenario[d].get(customer, 0) > 30
            if holds and start is None:
                start = i
            if not holds and start is not None:
                first, last = dates[start], dates[i - 1]
                runs.append((customer, first, last, "open" if d is None else "resolved", d,
                             float(scenario[first][customer]), float(scenario[last][customer])))
                start = None
    return sorted(runs)


def dpd_runs(url: str) -> list[tuple]:
    return fetch(url, "select customer_id, first_seen_date, last_seen_date, status, resolved_date,"
                 " first_metric_value, metric_value from ratings.credit_warnings where rule_code = 'DPD_30'"
                 " order by 1, 2")


@pytest.mark.parametrize("seed", [1, 2])
def test_runs_from_any_publishing_order_match_the_daily_hits(warehouse_url: str, seed: int) -> None:
    rng = random.Random(seed)
    days = [D1 + timedelta(days=i) for i in range(7)]
    scenario = {d: {c: rng.choice([0, 0, 31 + i, 45 + i]) for c in ("c1", "c2", "c3", "c4")}
                for i, d in enumerate(days)}
    for d in days:  # in date order no run is ever cut: every value is exact
        publish(warehouse_url, d, dpd=scenario[d])
    truth = expected_runs(scenario)
    assert dpd_runs(warehouse_url) == truth
    assert fetch(warehouse_url, "select count(*) from ratings.credit_warnings where rule_code = 'DPD_30'")[0][0] \
        == len(truth) < sum(v > 30 for day in scenario.values() for v in day.values())
    # reruns in a shuffled order keep the episodes; a fresh book published in a shuffled order gets the
    # same runs (dates, status); where a first publication cut a longer run, values may differ
    for d in rng.sample(days, len(days)):
        publish(warehouse_url, d, dpd=scenario[d])
    assert dpd_runs(warehouse_url) == truth
    with transaction(warehouse_url) as cur:
        cur.execute("truncate ratings.credit_warnings, ratings.customer_rating_versions, ratings.rated_dates,"
                    " ratings.model_monitoring")
    for d in rng.sample(days, len(days)):
        publish(warehouse_url, d, dpd=scenario[d])
    assert [r[:5] for r in dpd_runs(warehouse_url)] == [r[:5] for r in truth]


def test_a_corrected_day_inside_a_long_run_keeps_the_last_values_on_the_part_before(warehouse_url: str) -> None:
    days = [D1 + timedelta(days=i) for i in range(4)]
    for i, d in enumerate(days):
        publish(warehouse_url, d, dpd={"c1": 40 + i})
    publish(warehouse_url, days[2], dpd={})  # c1 was not past due on the third day after all
    assert dpd_runs(warehouse_url) == [
        # the first two days keep their first day's metric; the last day's of the part is not stored
        ("c1", days[0], days[1], "resolved", days[2], 40.0, 43.0),
        ("c1", days[3], days[3], "open", None, 43.0, 43.0),
    ]
