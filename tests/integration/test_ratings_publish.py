"""Scoring and publishing ratings.* with a real registered MLflow model on a real warehouse."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import psycopg2
import pytest

from common.config import load_config
from common.warehouse import transaction
from ml.registry import Champion
from ratings.maintenance import PUBLISH_TABLES, reclaim_dead_rows
from ratings.monitoring import monitoring_summary
from ratings.publish import score_and_publish
from tests.helpers.contract_model import MODEL_NAME, synthetic_features
from tests.helpers.feature_mart import create_feature_mart
from tests.helpers.ratings import load_features
from tests.helpers.sql import fetch

# --- tests ------------------------------------------------------------------------------------------

D1, D2, D3 = date(2026, 1, 29), date(2026, 1, 30), date(2026, 1, 31)
N = 300


def _ratings(url: str, d: date) -> list[tuple]:
    return fetch(url, "select customer_id, as_of_date, pd_12m, score, rating_grade, risk_segment,"
                 " current_credit_limit, recommended_credit_limit, decision, decision_rationale, reason_codes,"
                 " model_name, model_version, run_id from ratings.customer_ratings where as_of_date = %s"
                 " order by customer_id", (d,))


def _warnings(url: str) -> list[tuple]:
    return fetch(url, "select warning_id, customer_id, rule_code, severity, metric_value, threshold, message,"
                 " first_seen_date, last_seen_date, status, resolved_date from ratings.credit_warnings"
                 " order by customer_id, rule_code, first_seen_date")


def test_champion_is_loaded_by_alias_with_its_training_distribution(champion: Champion,
                                                                     champion_store: tuple) -> None:
    assert champion.version == champion_store[1]
    assert champion.train_distribution and abs(sum(champion.train_distribution.values()) - 1) < 1e-9


@pytest.mark.usefixtures("bi_views")
def test_publish_writes_every_active_customer_per_the_bi_contract(warehouse_url: str, champion: Champion) -> None:
    load_features(warehouse_url, synthetic_features(N, D1))
    result = score_and_publish(D1, "run-1", warehouse_url, champion=champion, chunk_size=128)
    assert result.rows_scored == N and sum(result.grade_counts.values()) == N
    assert result.model_version == champion.version
    got = _ratings(warehouse_url, D1)
    assert len(got) == N
    assert {r[12] for r in got} == {champion.version} and {r[13] for r in got} == {"run-1"}
    assert {r[8] for r in got} <= {"approve", "review", "reduce", "hold"}
    assert all(isinstance(r[10], list) and len(r[10]) <= 4 for r in got)
    defaults = fetch(warehouse_url, "select count(*) from ratings.customer_ratings where rating_grade = 'D'"
                     " and decision = 'hold' and recommended_credit_limit = 0")[0][0]
    assert defaults == fetch(warehouse_url, "select count(*) from marts.customer_features where in_default = 1")[0][0]
    scale = fetch(warehouse_url, "select grade, grade_rank, description from ratings.rating_master_scale"
                  " order by grade_rank")
    assert len(scale) == 9 and scale[-1][0] == "D" and all(r[2] for r in scale)
    mon = fetch(warehouse_url, "select rows_scored, grade_distribution, psi, model_version"
                " from ratings.model_monitoring where as_of_date = %s", (D1,))[0]
    assert mon[0] == N and abs(sum(mon[1].values()) - 1) < 1e-9 and mon[2] is not None and mon[3] == champion.version
    # the first rated date: every condition already present opens as initial, none as news
    assert result.warnings_initial > 0 and result.warnings_opened == 0 and result.new_critical_warnings == 0
    assert fetch(warehouse_url, "select count(*) from ratings_stage.customer_ratings")[0][0] == 0
    current = fetch(warehouse_url, "select count(*), min(next_review_date) from ratings.current_customer_ratings")
    assert current[0][0] == N and current[0][1] > D1


def test_a_champion_without_a_training_mix_publishes_no_psi(warehouse_url: str, champion: Champion) -> None:
    load_features(warehouse_url, synthetic_features(N, D1))
    result = score_and_publish(D1, "run-1", warehouse_url, champion=Champion(MODEL_NAME, "7", champion.model))
    assert result.psi is None
    assert fetch(warehouse_url, "select psi, rows_scored from ratings.model_monitoring") == [(None, N)]


def test_rerun_of_a_date_gives_identical_rows(warehouse_url: str, champion: Champion) -> None:
    load_features(warehouse_url, synthetic_features(N, D1))
    first = score_and_publish(D1, "run-1", warehouse_url, champion=champion)
    ratings, warnings = _ratings(warehouse_url, D1), _warnings(warehouse_url)
    monitoring = fetch(warehouse_url, "select rows_scored, grade_distribution, psi from ratings.model_monitoring")
    again = score_and_publish(D1, "run-1", warehouse_url, champion=champion)
    assert _ratings(warehouse_url, D1) == ratings
    assert _warnings(warehouse_url) == warnings  # same episodes, same warning ids
    assert fetch(warehouse_url, "select rows_scored, grade_distribution, psi from ratings.model_monitoring") == monitoring
    assert again.grade_counts == first.grade_counts and again.warnings_opened == first.warnings_opened
    assert fetch(warehouse_url, "select count(*) from ratings.customer_ratings")[0][0] == N


def test_backfill_rates_each_date_with_the_model_version_and_backtests_matured_cohorts(
    warehouse_url: str, champion: Champion
) -> None:
    for i, d in enumerate((D1, D2, D3)):
        load_features(warehouse_url, synthetic_features(N, d, seed=i))
    with transaction(warehouse_url) as cur:  # labels of the D1 cohort have matured
        cur.execute("create table marts.customer_default_labels (customer_id text, as_of_date date,"
                    " horizon_end_date date, default_flag integer, first_default_date date)")
        cur.execute("insert into marts.customer_default_labels select customer_id, as_of_date, as_of_date + 365,"
                    " (dpd_current > 30)::int, null from marts.customer_features where as_of_date = %s", (D1,))
    for d in (D3, D1, D2):  # any order
        score_and_publish(d, f"backfill-{d}", warehouse_url, champion=champion)
    per_date = fetch(warehouse_url, "select as_of_date, count(*), min(model_version), max(model_version),"
                     " min(run_id) from ratings.customer_ratings group by 1 order by 1")
    assert per_date == [(d, N, champion.version, champion.version, f"backfill-{d}") for d in (D1, D2, D3)]
    mon = fetch(warehouse_url, "select as_of_date, model_version, backtest from ratings.model_monitoring order by 1")
    assert [m[1] for m in mon] == [champion.version] * 3
    # each rated date carries its own back-test once its horizon has matured: only D1's has
    assert mon[1][2] is None and mon[2][2] is None
    backtest = mon[0][2]
    performing = fetch(warehouse_url, "select count(*), count(*) filter (where dpd_current > 30)"
                       " from marts.customer_features where as_of_date = %s and in_default = 0", (D1,))[0]
    assert backtest["cohort_date"] == D1.isoformat() and backtest["customers"] == performing[0]
    assert backtest["defaults"] == performing[1]
    assert "D" not in backtest["grades"]  # customers already in default are not back-tested
    for g in backtest["grades"].values():  # a Jeffreys test per grade
        assert g["verdict"] in ("ok", "underestimates", "overestimates")
        assert 0 <= g["p_value"] <= 1 and g["interval"][0] < g["interval"][1]
        if g["defaults"]:  # (with no default the Jeffreys interval's lower end stays just above 0)
            assert g["interval"][0] <= g["default_rate"] <= g["interval"][1]
    # the demo summary's monitoring read: D3's own PSI, and the latest matured back-test up to D3 (D1's)
    with transaction(warehouse_url) as cur:
        psi_d3, _, _, latest = monitoring_summary(cur, D3)
        assert monitoring_summary(cur, D3 + pd.Timedelta(days=1)) is None  # not a rated date
    assert psi_d3 == fetch(warehouse_url, "select psi from ratings.model_monitoring where as_of_date = %s", (D3,))[0][0]
    assert latest == backtest


def test_failed_gate_or_failing_model_leaves_the_previous_state(warehouse_url: str, champion: Champion) -> None:
    load_features(warehouse_url, synthetic_features(N, D1))
    score_and_publish(D1, "run-1", warehouse_url, champion=champion)
    before = _ratings(warehouse_url, D1), _warnings(warehouse_url)
    load_features(warehouse_url, synthetic_features(N, D1, seed=42))  # the snapshot changed

    seen = {}

    def failing_gate(as_of_date: date, run_id: str, **kwargs) -> None:
        seen.update(kwargs)
        staged = fetch(kwargs["url"], f"select count(*) from {kwargs['table']} where run_id = %s"
                       " and as_of_date = %s", (run_id, as_of_date))[0][0]
        assert staged == N
        raise RuntimeError("quality gate failed")

    with pytest.raises(RuntimeError, match="quality gate failed"):
        score_and_publish(D1, "run-2", warehouse_url, champion=champion,
                          gate=lambda **kw: failing_gate(as_of_date=D1, run_id="run-2", **kw))
    assert seen == {"table": "ratings_stage.customer_ratings", "url": warehouse_url}
    assert (_ratings(warehouse_url, D1), _warnings(warehouse_url)) == before

    class Broken:
        def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({"pd_12m": [2.0] * len(frame), "score": 1, "rating_grade": "A",
                                 "reason_codes": [[]] * len(frame)})

    broken = Champion(MODEL_NAME, "99", Broken())
    with pytest.raises(ValueError, match="probability"):
        score_and_publish(D1, "run-3", warehouse_url, champion=broken)
    assert (_ratings(warehouse_url, D1), _warnings(warehouse_url)) == before


def test_publishing_a_date_without_a_snapshot_fails_loudly(warehouse_url: str, champion: Champion) -> None:
    create_feature_mart(warehouse_url)
    with pytest.raises(ValueError, match="nothing to score"):
        score_and_publish(D1, "run-1", warehouse_url, champion=champion)


def test_decision_outside_the_contract_is_refused_by_the_table(warehouse_url: str) -> None:
    with pytest.raises(psycopg2.errors.CheckViolation), transaction(warehouse_url) as cur:
        cur.execute("insert into ratings.customer_rating_versions (customer_id, valid_from_date, pd_12m, score,"
                    " rating_grade, risk_segment, recommended_credit_limit, decision, decision_rationale, model_name,"
                    " model_version, run_id, scored_at) values ('c', %s, 0.1, 500, 'B', 'high', 0, 'maybe', 'x',"
                    " 'm', '1', 'r', now())", (D1,))


def _changed_copy(frame: pd.DataFrame, as_of_date: date, share: float, seed: int) -> pd.DataFrame:
    """The snapshot of the day before, dated as_of_date, with a share of customers' features redrawn."""
    out = frame.copy()
    out["as_of_date"] = as_of_date
    redrawn = synthetic_features(len(frame), as_of_date, seed=seed)
    pick = np.random.default_rng(seed).random(len(frame)) < share
    for column in ("dpd_current", "share_paid_late_12m", "bureau_score_change_6m", "credit_limit"):
        out.loc[pick, column] = redrawn.loc[pick, column]
    return out


@pytest.mark.usefixtures("bi_views")
def test_an_unchanged_snapshot_adds_no_stored_rating_but_bi_sees_every_date(
    warehouse_url: str, champion: Champion
) -> None:
    day1 = synthetic_features(N, D1)
    load_features(warehouse_url, day1)
    load_features(warehouse_url, day1.assign(as_of_date=D2))
    first = score_and_publish(D1, "run-1", warehouse_url, champion=champion)
    second = score_and_publish(D2, "run-2", warehouse_url, champion=champion)
    assert first.versions_added == N and (second.ratings_changed, second.versions_added) == (0, 0)
    assert fetch(warehouse_url, "select count(*) from ratings.customer_rating_versions")[0][0] == N
    day2 = _ratings(warehouse_url, D2)
    assert len(day2) == N and [r[:1] + r[2:13] for r in day2] == [r[:1] + r[2:13] for r in _ratings(warehouse_url, D1)]
    assert {r[13] for r in day2} == {"run-1"}  # the run that first produced the (unchanged) rating
    assert fetch(warehouse_url, "select as_of_date, run_id, rows_published from ratings.rated_dates order by 1") == [
        (D1, "run-1", N), (D2, "run-2", N)]
    current = fetch(warehouse_url, "select count(*), min(as_of_date), max(as_of_date)"
                    " from ratings.current_customer_ratings")
    assert current == [(N, D2, D2)]


def test_dates_published_out_of_order_and_rerun_leave_the_rows_of_an_in_order_run(
    warehouse_url: str, champion: Champion
) -> None:
    day1 = synthetic_features(N, D1)
    day2 = _changed_copy(day1, D2, 0.1, seed=5)
    day3 = _changed_copy(day2, D3, 0.1, seed=6).iloc[20:]  # 20 customers not rated on D3
    for frame in (day1, day2, day3):
        load_features(warehouse_url, frame)

    def state() -> tuple:
        ratings = fetch(warehouse_url, "select customer_id, as_of_date, pd_12m, score, rating_grade, risk_segment,"
                        " current_credit_limit, recommended_credit_limit, decision, decision_rationale, reason_codes,"
                        " model_name, model_version, run_id from ratings.customer_ratings order by 1, 2")
        versions = fetch(warehouse_url, "select customer_id, valid_from_date, valid_to_date, rating_grade, run_id"
                         " from ratings.customer_rating_versions order by 1, 2")
        return ratings, versions, [w[1:] for w in _warnings(warehouse_url)]  # not the warning_id

    for d in (D1, D2, D3):
        score_and_publish(d, f"run-{d}", warehouse_url, champion=champion)
    in_order = state()
    versions = len(in_order[1])
    assert N < versions < 2 * N and len(in_order[0]) == 3 * N - 20 and in_order[2]

    with transaction(warehouse_url) as cur:
        cur.execute("truncate ratings.customer_rating_versions, ratings.rated_dates, ratings.model_monitoring,"
                    " ratings.credit_warnings")
    load_features(warehouse_url, synthetic_features(N, D2, seed=9))  # a wrong snapshot first
    score_and_publish(D2, "run-wrong", warehouse_url, champion=champion)
    load_features(warehouse_url, day2)
    for d in (D3, D1, D2, D3):  # D2 corrected in the middle, then D3 rerun for its change rules
        score_and_publish(d, f"run-{d}", warehouse_url, champion=champion)
    assert state() == in_order


def test_scoring_the_training_population_itself_is_stable(warehouse_url: str, champion: Champion) -> None:
    train_date = date(2025, 1, 31)  # register_contract_model's training snapshot
    load_features(warehouse_url, synthetic_features(2_000, train_date, 0))
    result = score_and_publish(train_date, "run-train", warehouse_url, champion=champion)
    # the training reference holds grade D too (in_default rows), yet the PSI compares performing grades
    assert result.psi is not None and result.psi < 0.02
    in_default = fetch(warehouse_url, "select count(*) from marts.customer_features where in_default = 1")[0][0]
    mon = fetch(warehouse_url, "select default_share, defaults_rated, new_defaults, grade_distribution"
                " from ratings.model_monitoring")[0]
    assert mon[0] == pytest.approx(in_default / 2_000) and mon[1] == in_default
    assert mon[2] is None  # the first rated date: nothing to be new against
    assert mon[3]["D"] == pytest.approx(in_default / 2_000)  # the distribution still shows D


def test_two_identical_days_have_psi_zero_and_new_defaults_are_counted(
    warehouse_url: str, champion: Champion
) -> None:
    from ml.evaluate import psi
    from ratings.monitoring import performing_shares

    day1 = synthetic_features(N, D1)
    load_features(warehouse_url, day1)
    load_features(warehouse_url, day1.assign(as_of_date=D2))
    first = score_and_publish(D1, "run-1", warehouse_url, champion=champion)
    second = score_and_publish(D2, "run-2", warehouse_url, champion=champion)
    assert first.psi == second.psi and second.new_defaults == 0
    dists = [r[0] for r in fetch(warehouse_url, "select grade_distribution from ratings.model_monitoring order by 1")]
    assert psi(performing_shares(dists[0], {"D"}), performing_shares(dists[1], {"D"})) == 0.0
    # D3: three more customers fall into default; the new defaults say exactly that
    healthy = day1.index[day1["in_default"] == 0][:3]
    day3 = day1.assign(as_of_date=D3)
    day3.loc[healthy, "in_default"] = 1
    load_features(warehouse_url, day3)
    third = score_and_publish(D3, "run-3", warehouse_url, champion=champion)
    assert third.new_defaults == 3
    assert fetch(warehouse_url, "select new_defaults, defaults_rated from ratings.model_monitoring"
                 " where as_of_date = %s", (D3,)) == [(3, int(day1["in_default"].sum()) + 3)]


@pytest.mark.usefixtures("bi_views")
def test_bi_reads_the_reasons_in_words_beside_the_codes(warehouse_url: str, champion: Champion) -> None:
    load_features(warehouse_url, synthetic_features(N, D1))
    score_and_publish(D1, "run-1", warehouse_url, champion=champion)
    dictionary = load_config("reason_codes")["codes"]
    published = fetch(warehouse_url, "select reason_code, reason_text, feature, direction from ratings.reason_codes")
    assert {r[0]: (r[1], r[2]) for r in published} == {c: (e["text"], e["feature"]) for c, e in dictionary.items()}
    assert {r[3] for r in published} == {"increases_risk"}
    rows = fetch(warehouse_url, "select reason_codes, reason_texts from ratings.current_customer_ratings")
    assert any(codes for codes, _ in rows)
    for codes, texts in rows:
        assert texts == [dictionary[c]["text"] for c in codes]


def test_dead_rows_of_a_publish_are_reclaimed_where_autovacuum_is_off(warehouse_url: str, champion: Champion) -> None:
    load_features(warehouse_url, synthetic_features(N, D1))
    score_and_publish(D1, "run-1", warehouse_url, champion=champion)
    load_features(warehouse_url, synthetic_features(N, D1, seed=5))  # a changed snapshot: versions rewritten
    score_and_publish(D1, "run-2", warehouse_url, champion=champion)
    autovacuum = fetch(warehouse_url, "select current_setting('autovacuum')::boolean")[0][0]
    result = reclaim_dead_rows(warehouse_url)
    assert result["autovacuum"] is autovacuum
    if autovacuum:  # the server reclaims them itself: nothing to do here
        assert result["vacuumed"] == []
        return
    assert result["vacuumed"] == list(PUBLISH_TABLES)
    stats = fetch(warehouse_url, "select schemaname || '.' || relname, n_dead_tup, last_vacuum is not null,"
                  " last_analyze is not null from pg_stat_user_tables"
                  " where schemaname || '.' || relname = any(%s) order by 1", (list(PUBLISH_TABLES),))
    assert [s[0] for s in stats] == sorted(PUBLISH_TABLES)
    assert all(dead == 0 and vacuumed and analyzed for _, dead, vacuumed, analyzed in stats), stats
