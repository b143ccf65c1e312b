"""Intraday ratings on crafted features: on top of the daily book, never in its rated dates, superseded by
the daily run of their date, and kept by a daily run of an earlier date."""

from __future__ import annotations

from datetime import date

import pytest

from common.warehouse import copy_rows, transaction
from ml.registry import Champion
from ratings.intraday import RERATED_FEATURE_TABLE, DateAlreadyRated, publish_intraday
from ratings.publish import score_and_publish
from tests.helpers.ratings import CraftedModel, calm_features, load_features
from tests.helpers.sql import fetch

D1, D2, T = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
RATED = "customer_id, as_of_date, pd_12m, score, rating_grade, decision, rating_kind"


def champion(model: CraftedModel) -> Champion:
    return Champion("crm_credit_pd", "3", model)


def rerated(url: str, d: date, dpd: dict[str, int], customers: list[str]) -> None:
    """marts.customer_features_rerated holds these customers' features for d (what the dbt re-rating writes)."""
    frame = calm_features(d, dpd)
    frame = frame[frame["customer_id"].isin(customers)]
    load_features(url, frame.iloc[:0])  # creates the daily mart shape
    with transaction(url) as cur:
        cur.execute(f"create table if not exists {RERATED_FEATURE_TABLE} (like marts.customer_features)")
        cur.execute(f"delete from {RERATED_FEATURE_TABLE} where as_of_date = %s", (d,))
        columns = [r[0] for r in fetch(url, "select column_name from information_schema.columns where table_schema"
                                            " = 'marts' and table_name = 'customer_features' order by ordinal_position")]
        out = frame.reindex(columns=columns)
        out["in_default"] = out["in_default"].astype("Int64")
        copy_rows(cur, RERATED_FEATURE_TABLE, columns, out)


def daily(url: str, d: date, model: CraftedModel, dpd: dict[str, int] | None = None) -> None:
    load_features(url, calm_features(d, dpd or {}))
    score_and_publish(d, f"daily-{d}", url, champion=champion(model))


@pytest.fixture
def book(bi_views: str) -> tuple[str, CraftedModel]:
    model = CraftedModel()
    daily(bi_views, D1, model)
    daily(bi_views, D2, model)
    return bi_views, model


def test_an_intraday_rating_tops_the_book_without_touching_its_rated_dates(book) -> None:
    url, model = book
    before = fetch(url, f"select {RATED} from ratings.customer_ratings order by 1, 2")
    model.by_customer["c2"] = (0.30, 420, "CCC")
    rerated(url, T, {"c2": 60}, ["c2"])

    result = publish_intraday(T, "events-1", url, champion=champion(model))

    assert (result.customers, result.grade_changes) == (1, {"c2": "A -> CCC"})
    assert fetch(url, f"select {RATED} from ratings.customer_ratings order by 1, 2") == before
    current = dict((r[0], r[1:]) for r in fetch(url, "select customer_id, as_of_date, rating_grade, rating_kind"
                                                     " from ratings.current_customer_ratings"))
    assert current["c2"] == (T, "CCC", "intraday") and current["c1"] == (D2, "A", "daily")
    assert ("c2", "DPD_30", T, "intraday") in fetch(url, "select customer_id, rule_code, first_seen_date, rating_kind"
                                                        " from ratings.open_credit_warnings")
    # versions never overlap: the daily version of c2 now ends where the intraday one starts
    assert fetch(url, "select valid_from_date, valid_to_date, rating_kind from ratings.customer_rating_versions"
                      " where customer_id = 'c2' order by 1") == [(D1, T, "daily"), (T, date(9999, 12, 31), "intraday")]

    # a second re-rating of the same day replaces the first
    model.by_customer["c2"] = (0.08, 560, "BB")
    publish_intraday(T, "events-2", url, champion=champion(model))
    assert fetch(url, "select rating_grade, run_id from ratings.customer_rating_versions"
                      " where rating_kind = 'intraday'") == [("BB", "events-2")]


def test_the_daily_run_of_the_date_supersedes_and_an_earlier_rerun_keeps_the_intraday_rating(book) -> None:
    url, model = book
    model.by_customer["c3"] = (0.30, 420, "CCC")
    rerated(url, T, {"c3": 60}, ["c3"])
    publish_intraday(T, "events-1", url, champion=champion(model))

    daily(url, D2, model)  # a rerun of an earlier date: the intraday rating stays on top
    assert fetch(url, "select customer_id, valid_from_date from ratings.customer_rating_versions"
                      " where rating_kind = 'intraday'") == [("c3", T)]
    assert fetch(url, "select count(*) from ratings.credit_warnings where rating_kind = 'intraday'") >= [(1,)]
    with pytest.raises(DateAlreadyRated):
        daily(url, T, model, {"c3": 60})
        publish_intraday(T, "events-late", url, champion=champion(model))

    # the daily run of T rated c3 as the record: the same rows as a book that never saw the event
    assert fetch(url, "select count(*) from ratings.customer_rating_versions where rating_kind = 'intraday'") == [(0,)]
    with_event = fetch(url, f"select {RATED} from ratings.customer_ratings order by 1, 2")
    warnings = fetch(url, "select customer_id, rule_code, first_seen_date, status, rating_kind"
                          " from ratings.credit_warnings order by 1, 2, 3")
    assert ("c3", "DPD_30", T, "open", "daily") in warnings
    with transaction(url) as cur:
        cur.execute("truncate ratings.customer_rating_versions, ratings.rated_dates, ratings.credit_warnings,"
                    " ratings.model_monitoring")
    replay = CraftedModel()
    daily(url, D1, replay)
    replay.by_customer["c3"] = model.by_customer["c3"]
    daily(url, D2, replay)
    daily(url, T, replay, {"c3": 60})
    assert fetch(url, f"select {RATED} from ratings.customer_ratings order by 1, 2") == with_event
    assert fetch(url, "select customer_id, rule_code, first_seen_date, status, rating_kind"
                      " from ratings.credit_warnings order by 1, 2, 3") == warnings
