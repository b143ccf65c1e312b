"""credit_model_training: weekly (Sunday 03:00 UTC), on newly matured labels, and on-demand training.

build training set -> train candidates (mapped, in parallel) -> evaluate -> register -> gate.
Tasks pass file paths and MLflow ids, never frames. The logic lives in `ml.train` and `ml.registry`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, dag, task

from pipeline.operations import CREDIT_MODEL, FEATURE_SNAPSHOT, LABELLED_SNAPSHOTS, failure_notifier

DOC = """
### Credit model training

Trains the candidates of `config/model.yml` (WoE scorecard, logistic regression, decision tree, gradient
boosting, monotone gradient boosting) on
`marts.customer_features` joined to the mature `marts.customer_default_labels`, with the latest
snapshots as an out-of-time holdout. Every candidate is logged to the MLflow experiment
`crm_credit_pd`; the chosen one is registered as a new version of `crm_credit_pd`.

The last task applies the minimum bars (`@challenger`) and the promotion gate. With
`gate.auto_promote: false` a passing challenger waits for a model owner:
`python -m ml.cli models promote VERSION --reason "..."`. See docs/models.md.

It runs every Sunday 03:00 UTC and whenever the daily DAG updates the Asset `customer_default_labels`
(a feature snapshot's default horizon ended). It is the only path that trains: the daily DAG fails
clearly when there is no champion. Trigger it by hand after a data fix or a feature change; runs never
overlap.
"""


@dag(
    # weekly, and whenever the daily run reports a newly matured labelled cohort
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 3 * * 0", timezone="UTC"), assets=LABELLED_SNAPSHOTS
    ),
    start_date=datetime(2026, 1, 4, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "model-owners",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "execution_timeout": timedelta(hours=4),
    },
    tags=["credit-risk", "ml"],
    doc_md=DOC,
    on_failure_callback=failure_notifier(),
)
def credit_model_training():
    @task(inlets=[FEATURE_SNAPSHOT, LABELLED_SNAPSHOTS])
    def build_training_set(data_interval_end=None) -> str:
        """Labelled snapshots whose horizon ended by the end of the data interval -> parquet path."""
        from ml.train import build_training_set as build

        return build(as_of_date=data_interval_end.date() if data_interval_end else None)

    @task
    def candidate_names() -> list[str]:
        from ml.train import enabled_candidates

        return enabled_candidates()

    @task(multiple_outputs=False)
    def train_candidate(dataset_path: str, name: str) -> dict[str, str]:
        from ml.train import fit_candidate_file

        return {"name": name, "path": fit_candidate_file(dataset_path, name)}

    @task(multiple_outputs=False)
    def evaluate(dataset_path: str, fitted: list[dict[str, str]]) -> dict[str, str]:
        from ml.train import evaluate_candidates

        return evaluate_candidates(dataset_path, {f["name"]: f["path"] for f in fitted})

    @task(multiple_outputs=False, outlets=[CREDIT_MODEL])
    def register(evaluation: dict[str, str]) -> dict:
        from ml.train import register_chosen

        return register_chosen(evaluation)

    @task(multiple_outputs=False)
    def gate(registered: dict) -> dict:
        from ml.registry import assess_new_version

        return {"version": registered["version"], **assess_new_version(registered["version"])}

    path = build_training_set()
    fitted = train_candidate.partial(dataset_path=path).expand(name=candidate_names())
    gate(register(evaluate(path, fitted)))


credit_model_training()
