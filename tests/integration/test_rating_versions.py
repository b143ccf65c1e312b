"""Ratings stored as versions: the view equals a plain per-day table whatever the publish order.

ratings.customer_rating_versions holds one row per customer and run of rated dates with the same
rating; ratings.customer_ratings (a view) expands them over ratings.rated_dates. These tests publish
hand-made staged rows with ratings.versions.publish_versions (the ratings step of the publish transaction)
and compare with a reference computed in Python from the final rows of every date, as if every date
had been published once, in date order, into a table with one row per customer and date.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from common.warehouse import transaction
from ratings.staging import StageResult
from ratings.versions import OPEN_END, publish_versions

DATES = [date(2026, 3, 1) + timedelta(days=i) for i in range(6)]
# What a version compares (ratings/sql/versions.sql): every column but the key, the validity and the run.
RATED_VALUE_COLUMNS = [
    "pd_12m", "score", "rating_grade", "risk_segment", "current_credit_limit", "recommended_credit_limit",
    "decision", "decision_rationale", "reason_codes", "model_name", "model_version",
]
VALUES = ", ".join(RATED_VALUE_COLUMNS)
BASE = {
    "pd_12m": 0.02, "score": 640, "rating_grade": "A", "risk_segment": "low",
    "current_credit_limit": Decimal("10000.00"), "recommended_credit_limit": Decimal("12000.00"),
    "decision": "approve", "decision_rationale": "Approve: grade A, recommended 12,000, current 10,000",
    "reason_codes": ["PAY01", "EXP02"], "model_name": "crm_credit_pd", "model_version": "1",
}
# One changed value per rated column (every one of them must open a new version). A run scores with one
# model: the model columns change for every customer at once.
CHANGES = {
    "pd_12m": 0.021, "score": 639, "rating_grade": "BBB", "risk_segment": "medium",
    "current_credit_limit": None, "recommended_credit_limit": Decimal("11000.00"), "decision": "review",
    "decision_rationale": "Review: limit use above 90%", "reason_codes": ["EXP02", "PAY01"],
    "model_name": "crm_credit_pd_v2", "model_version": "2",
}
assert set(CHANGES) == set(RATED_VALUE_COLUMNS) == set(BASE)
STATES = [tuple(BASE.values())] + [tuple({**BASE, col: value}.values()) for col, value in CHANGES.items()]

Rating = tuple  # the RATED_VALUE_COLUMNS of one customer on one date


@dataclass
class Published:
    run_id: str
    scored_at: datetime
    ratings: dict[str, Rating]


class Warehouse:
    """Publishes staged rows one date at a time and reads back what BI sees."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.runs = 0
        self.final: dict[date, Published] = {}

    def publish(self, d: date, ratings: dict[str, Rating], run_id: str | None = None) -> dict:
        self.runs += 1
        run_id = run_id or f"run-{self.runs}"
        scored_at = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=self.runs)
        with transaction(self.url) as cur:
            cur.executemany(
                f"insert into ratings_stage.customer_ratings (customer_id, as_of_date, {VALUES}, run_id, scored_at)"
                f" values (%s, %s, {', '.join(['%s'] * len(RATED_VALUE_COLUMNS))}, %s, %s)",
                [(c, d, *values, run_id, scored_at) for c, values in ratings.items()],
            )
            stats = publish_versions(cur, d, run_id, StageResult(rows=len(ratings), grade_counts={}, observations=0))
            cur.execute("delete from ratings_stage.customer_ratings where run_id = %s", (run_id,))
        self.final[d] = Published(run_id, scored_at, dict(ratings))
        return stats.__dict__

    def reset(self) -> None:
        with transaction(self.url) as cur:
            cur.execute("truncate ratings.customer_rating_versions, ratings.rated_dates")
        self.final = {}

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with transaction(self.url) as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def view_rows(self) -> set[tuple]:
        return {(r[0], r[1], freeze(r[2:-2]), r[-2], r[-1]) for r in self.query(
            f"select customer_id, as_of_date, {VALUES}, run_id, scored_at from ratings.customer_ratings")}

    def versions(self) -> set[tuple]:
        return {(r[0], r[1], r[2], freeze(r[3:-2]), r[-2], r[-1]) for r in self.query(
            f"select customer_id, valid_from_date, valid_to_date, {VALUES}, run_id, scored_at"
            " from ratings.customer_rating_versions")}


def freeze(values: tuple | list) -> tuple:
    """Hashable rated values (reason_codes arrive as a list)."""
    return tuple(tuple(x) if isinstance(x, list) else x for x in values)


def reference(final: dict[date, Published]) -> tuple[set[tuple], set[tuple]]:
    """(view rows, versions) of publishing every date's final rows once, in date order: a customer keeps
    its version (and the run that opened it) while its rating stays the same on consecutive rated dates."""
    rows, versions = set(), set()
    dates = sorted(final)
    customers = sorted({c for p in final.values() for c in p.ratings})
    for c in customers:
        open_version = None  # (valid_from, values, run_id, scored_at)
        for d in dates:
            values = final[d].ratings.get(c)
            if open_version is not None and (values is None or freeze(values) != open_version[1]):
                versions.add((c, open_version[0], d, *open_version[1:]))
                open_version = None
            if values is None:
                continue
            if open_version is None:
                open_version = (d, freeze(values), final[d].run_id, final[d].scored_at)
            rows.add((c, d, freeze(values), open_version[2], open_version[3]))
        if open_version is not None:
            versions.add((c, open_version[0], OPEN_END, *open_version[1:]))
    return rows, versions


def assert_matches_reference(wh: Warehouse) -> None:
    rows, versions = reference(wh.final)
    assert wh.view_rows() == rows
    assert wh.versions() == versions  # minimal: adjacent equal versions merged, nothing left over
    assert {r[0] for r in wh.query("select as_of_date from ratings.rated_dates")} == set(wh.final)
    assert dict(wh.query("select as_of_date, run_id from ratings.rated_dates")) == {
        d: p.run_id for d, p in wh.final.items()}


def random_day(rng: random.Random, customers: list[str], previous: dict[str, Rating] | None) -> dict[str, Rating]:
    """Most customers keep yesterday's rating, some change, some are not rated, some come back."""
    day = {}
    for c in customers:
        roll = rng.random()
        if roll < 0.12:
            continue  # not rated today
        if previous and c in previous and roll < 0.75:
            day[c] = previous[c]
        else:
            day[c] = rng.choice(STATES[:4])
    return day


@pytest.fixture
def wh(warehouse_url: str) -> Iterator[Warehouse]:
    yield Warehouse(warehouse_url)


# --- order independence --------------------------------------------------------------------------------

def test_any_publish_order_with_reruns_and_backfills_gives_the_in_order_rows_and_minimal_versions(
        wh: Warehouse) -> None:
    rng = random.Random(7)
    customers = [f"c{i:03d}" for i in range(40)]
    days: dict[date, dict[str, Rating]] = {}
    previous = None
    for d in DATES:
        days[d] = previous = random_day(rng, customers, previous)

    orders = [list(DATES), list(reversed(DATES)), [DATES[0], DATES[5], DATES[2], DATES[4], DATES[1], DATES[3]]]
    orders += [rng.sample(DATES, len(DATES)) for _ in range(4)]
    for order in orders:
        wh.reset()
        # a first, different attempt at some dates, replaced later by the final one (reruns)
        first_attempts = rng.sample(DATES, 3)
        sequence = [(d, random_day(rng, customers, None)) for d in first_attempts]
        sequence += [(d, days[d]) for d in order]
        for d, ratings in sequence:
            wh.publish(d, ratings)
        assert_matches_reference(wh)
        assert {d: p.ratings for d, p in wh.final.items()} == days

        # republishing a date with the same rows (a plain rerun) changes only the run of what it opened
        d = rng.choice(DATES)
        stats = wh.publish(d, days[d])
        assert stats["changed"] == 0 and stats["versions_added"] == 0
        assert_matches_reference(wh)


def test_a_backfilled_date_splits_the_versions_around_it_and_a_correction_merges_them_again(wh: Warehouse) -> None:
    d1, d2, d3 = DATES[0], DATES[2], DATES[4]
    a, b = STATES[0], STATES[3]
    wh.publish(d1, {"x": a, "y": a})
    wh.publish(d3, {"x": a, "y": a})
    assert wh.query("select count(*) from ratings.customer_rating_versions")[0][0] == 2  # one version each

    # backfill d2 in the middle: x changed that day, y was not rated
    stats = wh.publish(d2, {"x": b})
    assert stats["changed"] == 2
    assert_matches_reference(wh)
    assert sorted(wh.query("select customer_id, valid_from_date, valid_to_date from ratings.customer_rating_versions"
                           " order by 1, 2")) == [
        ("x", d1, d2), ("x", d2, d3), ("x", d3, OPEN_END), ("y", d1, d2), ("y", d3, OPEN_END)]
    assert wh.query("select count(*) from ratings.customer_ratings where as_of_date = %s", (d2,))[0][0] == 1

    # the corrected d2 says x and y were unchanged: both collapse back to one version
    stats = wh.publish(d2, {"x": a, "y": a})
    assert stats["versions_added"] == -3
    assert_matches_reference(wh)
    assert sorted(wh.query("select customer_id, valid_from_date, valid_to_date, run_id"
                           " from ratings.customer_rating_versions order by 1")) == [
        ("x", d1, OPEN_END, wh.final[d1].run_id), ("y", d1, OPEN_END, wh.final[d1].run_id)]


# --- storage ---------------------------------------------------------------------------------------------

def test_an_unchanged_day_adds_no_version_and_a_change_in_any_rated_value_adds_one(wh: Warehouse) -> None:
    # the rated values changed one by one below are every value column of the versions table
    columns = {r[0] for r in wh.query("select column_name from information_schema.columns"
                                      " where table_schema = 'ratings' and table_name = 'customer_rating_versions'")}
    # rating_kind is daily for every version a daily publish writes (intraday ones: test_intraday_versions.py)
    assert columns - {"customer_id", "valid_from_date", "valid_to_date", "run_id", "scored_at", "rating_kind"} == set(
        RATED_VALUE_COLUMNS)
    customers = [f"c{i:03d}" for i in range(len(CHANGES) + 5)]
    wh.publish(DATES[0], dict.fromkeys(customers, STATES[0]))
    stats = wh.publish(DATES[1], dict.fromkeys(customers, STATES[0]))
    assert stats == {"changed": 0, "rerun": 0, "versions_added": 0}
    assert wh.query("select count(*) from ratings.customer_rating_versions")[0][0] == len(customers)
    assert wh.query("select count(*) from ratings.customer_ratings")[0][0] == 2 * len(customers)

    # customer i changes exactly one rated column; the run and scored_at differ for everyone anyway
    per_customer = [s for s, col in zip(STATES[1:], CHANGES, strict=True) if not col.startswith("model_")]
    day3 = dict.fromkeys(customers, STATES[0])
    for customer, state in zip(customers, per_customer, strict=False):
        day3[customer] = state
    stats = wh.publish(DATES[2], day3)
    assert stats["changed"] == len(per_customer) and stats["versions_added"] == len(per_customer)
    changed = {r[0] for r in wh.query("select customer_id from ratings.customer_rating_versions"
                                      " where valid_from_date = %s", (DATES[2],))}
    assert changed == set(customers[:len(per_customer)])
    assert_matches_reference(wh)
    # unchanged customers still show the run that first produced their rating
    assert {r[0] for r in wh.query("select distinct run_id from ratings.customer_ratings where as_of_date = %s"
                                   " and customer_id = any(%s)", (DATES[2], customers[len(per_customer):]))} == {
        wh.final[DATES[0]].run_id}

    # a new model name or version is a new rating for everyone, even with the same values
    for column in ("model_name", "model_version"):
        day = {c: tuple({**dict(zip(RATED_VALUE_COLUMNS, v, strict=True)), column: CHANGES[column]}.values())
               for c, v in wh.final[max(wh.final)].ratings.items()}
        stats = wh.publish(max(wh.final) + timedelta(days=1), day)
        assert stats["changed"] == len(customers) and stats["versions_added"] == len(customers)
    assert_matches_reference(wh)


@pytest.mark.usefixtures("bi_views")
def test_a_customer_not_rated_on_a_date_has_no_row_that_date(wh: Warehouse) -> None:
    a = STATES[0]
    wh.publish(DATES[0], {"x": a, "y": a})
    wh.publish(DATES[1], {"y": a})  # x not scored that day
    wh.publish(DATES[2], {"x": a, "y": a})
    assert wh.query("select customer_id, as_of_date from ratings.customer_ratings order by 1, 2") == [
        ("x", DATES[0]), ("x", DATES[2]), ("y", DATES[0]), ("y", DATES[1]), ("y", DATES[2])]
    assert_matches_reference(wh)
    # x is gone on the latest date: its current rating is the one of its last rated date
    wh.publish(DATES[3], {"y": a})
    current = dict(wh.query("select customer_id, as_of_date from ratings.current_customer_ratings"))
    assert current == {"x": DATES[2], "y": DATES[3]}
    assert_matches_reference(wh)


# --- the other views read the versions directly and keep their output -------------------------------------

@pytest.mark.usefixtures("bi_views")
def test_current_ratings_and_the_migration_matrix_equal_their_definitions_over_the_daily_rows(
        wh: Warehouse) -> None:
    rng = random.Random(3)
    customers = [f"c{i:03d}" for i in range(60)]
    dates = [date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 27), date(2026, 3, 30), date(2026, 3, 31)]
    previous = None
    with transaction(wh.url) as cur:
        cur.execute("insert into ratings.risk_segments values ('low', 1, '{A}', 12, 'l'), ('medium', 2, '{BBB}', 6,"
                    " 'm')")
        cur.execute("insert into ratings.reason_codes (reason_code, reason_text, feature, direction, version)"
                    " values ('PAY01', 'Late payments', 'days_late', 'increases_risk', 'v1')")
        cur.execute("insert into ratings.rating_master_scale (grade, grade_rank, pd_lower, pd_upper, pd_central,"
                    " description, version) values ('A', 3, 0, 0.01, 0.005, 'a', 'v1'), ('BBB', 4, 0.01, 0.02,"
                    " 0.015, 'b', 'v1')")
    for d in rng.sample(dates, len(dates)):
        previous = random_day(rng, customers, previous)
        wh.publish(d, previous)
    current = wh.query("select * from ratings.current_customer_ratings order by customer_id")
    by_definition = wh.query("""
        select r.customer_id, r.as_of_date, r.pd_12m, r.score, r.rating_grade, r.risk_segment,
            r.current_credit_limit, r.recommended_credit_limit, r.decision, r.decision_rationale,
            r.reason_codes, r.model_name, r.model_version, r.run_id, r.scored_at, s.review_frequency_months,
            (r.as_of_date + make_interval(months => s.review_frequency_months))::date,
            array(select coalesce(t.reason_text, c) from unnest(r.reason_codes) as c
                  left join ratings.reason_codes as t on t.reason_code = c),
            r.rating_kind
        from (select distinct on (customer_id) * from ratings.customer_ratings
              order by customer_id, as_of_date desc) as r
        left join ratings.risk_segments as s on s.risk_segment = r.risk_segment
        order by r.customer_id""")
    assert {t for r in current for t in r[-2]} == {"Late payments", "EXP02"}  # dictionary text, else the code
    assert current == by_definition and len(current) == len({c for p in wh.final.values() for c in p.ratings})
    assert {r[1] for r in current} > {max(dates)}  # some customers' last rating is older than the latest date

    matrix = wh.query("select * from ratings.grade_migration_monthly order by 1, 2, 3")
    snapshots = """
        select date_trunc('month', r.as_of_date)::date as month, r.customer_id, r.rating_grade
        from ratings.customer_ratings as r
        where r.as_of_date in (select max(as_of_date) from ratings.rated_dates
                               group by date_trunc('month', as_of_date))"""
    expected = wh.query(f"""
        with s as ({snapshots}),
        moves as (select cur.month, prev.rating_grade as f, cur.rating_grade as t, count(*) as n
                  from s as cur join s as prev on prev.customer_id = cur.customer_id
                      and prev.month = (cur.month - interval '1 month')::date
                  group by 1, 2, 3)
        select m.month, m.f, m.t, fr.grade_rank, tr.grade_rank, tr.grade_rank - fr.grade_rank, m.n,
            m.n::double precision / sum(m.n) over (partition by m.month, m.f)
        from moves as m
        left join ratings.rating_master_scale as fr on fr.grade = m.f
        left join ratings.rating_master_scale as tr on tr.grade = m.t
        order by 1, 2, 3""")
    assert matrix == expected and {r[0] for r in matrix} == {date(2026, 2, 1), date(2026, 3, 1)}
