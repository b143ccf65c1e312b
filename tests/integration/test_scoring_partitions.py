"""Scoring partitioned over workers (ratings.partitions): the day is the same whatever the partitions,
nothing is published until every partition is staged, and a failed partition is retried alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pandas as pd
import pytest

from ml.registry import Champion
from ratings.partitions import PartitionsNotStaged, plan_scoring, planned_version, stage_partition
from ratings.publish import publish_partitions, score_and_publish
from tests.helpers.contract_model import MODEL_NAME, synthetic_features
from tests.helpers.ratings import load_features
from tests.helpers.sql import fetch

D = date(2026, 1, 29)
N = 400
RATED = ("customer_id, pd_12m, score, rating_grade, risk_segment, current_credit_limit, recommended_credit_limit,"
         " decision, decision_rationale, reason_codes, model_version")


@pytest.fixture
def book(warehouse_url: str) -> str:
    load_features(warehouse_url, synthetic_features(N, D))
    return warehouse_url


def _published(url: str) -> list[tuple]:
    return fetch(url, f"select {RATED} from ratings.customer_ratings where as_of_date = %s order by customer_id", (D,))


def _staged_by_partition(url: str, n: int) -> dict[int, int]:
    rows = fetch(url, "select ratings_stage.scoring_partition(customer_id, %s), count(*)"
                 " from ratings_stage.customer_ratings where as_of_date = %s group by 1 order by 1", (n, D))
    return dict(rows)


class Failing:
    """A model that fails on its second chunk: the partition's attempt dies half-way through."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, 0

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("worker lost")
        return self.model.predict(frame)


def test_partitions_scored_in_parallel_publish_the_same_day_as_one_process(book: str, champion: Champion) -> None:
    plan = plan_scoring(book, D, "run-parts", champion, partitions=3)
    assert plan.numbers() == [0, 1, 2] and plan.model_version == champion.version
    assert planned_version(book, D, "run-parts") == champion.version
    with ThreadPoolExecutor(max_workers=3) as pool:  # three workers staging into ratings_stage at once
        staged = list(pool.map(lambda p: stage_partition(book, D, "run-parts", p, champion, chunk_size=64), plan.numbers()))
    assert sum(s.rows for s in staged) == N and all(s.rows > 0 for s in staged)
    # each partition staged exactly its customers: the hash of the key decides
    assert _staged_by_partition(book, 3) == {p: s.rows for p, s in enumerate(staged)}
    assert len(fetch(book, "select distinct scored_at from ratings_stage.customer_ratings")) == 1
    result = publish_partitions(D, "run-parts", book)
    assert result.rows_scored == N and result.model_version == champion.version
    parts = _published(book)
    assert len(parts) == N
    assert fetch(book, "select count(*) from ratings_stage.scoring_partitions")[0][0] == 0  # the plan goes too

    score_and_publish(D, "run-one", book, champion=champion)  # the same day, one process, one partition
    assert _published(book) == parts


def test_nothing_is_published_until_every_partition_is_staged(book: str, champion: Champion) -> None:
    plan_scoring(book, D, "run-1", champion, partitions=3)
    stage_partition(book, D, "run-1", 0, champion)
    stage_partition(book, D, "run-1", 2, champion)
    with pytest.raises(PartitionsNotStaged, match=r"1 of 3 partitions .* not staged: \[1\]"):
        publish_partitions(D, "run-1", book, champion=champion)
    assert _published(book) == []
    stage_partition(book, D, "run-1", 1, champion)
    assert publish_partitions(D, "run-1", book, champion=champion).rows_scored == N
    assert len(_published(book)) == N


def test_a_failed_partition_is_retried_alone(book: str, champion: Champion) -> None:
    plan_scoring(book, D, "run-1", champion, partitions=2)
    first = stage_partition(book, D, "run-1", 0, champion, chunk_size=50)
    kept = fetch(book, "select customer_id, scored_at from ratings_stage.customer_ratings order by 1")
    broken = Champion(champion.name, champion.version, Failing(champion.model))
    with pytest.raises(RuntimeError, match="worker lost"):
        stage_partition(book, D, "run-1", 1, broken, chunk_size=50)  # its first chunk was COPYed, then it died
    # the failed attempt left nothing: partition 0 untouched, partition 1 neither staged nor marked
    assert fetch(book, "select customer_id, scored_at from ratings_stage.customer_ratings order by 1") == kept
    assert fetch(book, "select partition_no from ratings_stage.scoring_partitions where staged_at is not null") == [(0,)]
    second = stage_partition(book, D, "run-1", 1, champion, chunk_size=50)  # the retry of partition 1 only
    assert first.rows + second.rows == N
    assert publish_partitions(D, "run-1", book).rows_scored == N


def test_a_partition_run_again_replaces_its_own_rows(book: str, champion: Champion) -> None:
    plan_scoring(book, D, "run-1", champion, partitions=2)
    once = stage_partition(book, D, "run-1", 1, champion)
    again = stage_partition(book, D, "run-1", 1, champion)  # the task cleared and run after it succeeded
    assert once == again
    assert _staged_by_partition(book, 2) == {1: once.rows}
    stage_partition(book, D, "run-1", 0, champion)
    assert publish_partitions(D, "run-1", book, champion=champion).rows_scored == N


def test_every_partition_scores_with_the_planned_version(book: str, champion: Champion) -> None:
    plan_scoring(book, D, "run-1", champion, partitions=2)
    other = Champion(MODEL_NAME, "99", champion.model)  # @champion moved during the run
    with pytest.raises(ValueError, match=f"planned for {MODEL_NAME} version {champion.version}, not .* version 99"):
        stage_partition(book, D, "run-1", 0, other)
    with pytest.raises(PartitionsNotStaged, match="no plan for partition 2"):
        stage_partition(book, D, "run-1", 2, champion)
    with pytest.raises(PartitionsNotStaged, match="no scoring plan"):
        publish_partitions(D, "run-other", book, champion=champion)
    with pytest.raises(ValueError, match="at least one partition"):
        plan_scoring(book, D, "run-1", champion, partitions=0)


def test_a_new_plan_clears_what_an_earlier_run_staged_for_the_day(book: str, champion: Champion) -> None:
    plan_scoring(book, D, "run-old", champion, partitions=2)
    stage_partition(book, D, "run-old", 0, champion)
    plan_scoring(book, D, "run-new", champion, partitions=1)
    assert fetch(book, "select distinct run_id from ratings_stage.scoring_partitions") == [("run-new",)]
    assert fetch(book, "select count(*) from ratings_stage.customer_ratings")[0][0] == 0
