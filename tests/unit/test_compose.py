"""docker-compose.yml cannot start here (no Docker engine): check that it agrees with the code instead."""

from __future__ import annotations

import importlib.util
import re

import pytest
import yaml

from common.paths import REPO_ROOT
from common.warehouse import CRM_SOURCE, FINANCE_SOURCE, WAREHOUSE

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW_SERVICES = [n for n in SERVICES if n.startswith("airflow-")]
ENV_EXAMPLE = dict(
    line.split("=", 1) for line in (REPO_ROOT / ".env.example").read_text().splitlines()
    if line and not line.startswith("#")
)
DOCKERFILE = (REPO_ROOT / "docker" / "Dockerfile").read_text()
WORKDIR = re.search(r"^WORKDIR (\S+)", DOCKERFILE, re.M).group(1)


def test_stack_has_every_production_component():
    required = {"postgres", "redis", "airflow-init", "airflow-apiserver", "airflow-scheduler",
                "airflow-dag-processor", "airflow-triggerer", "airflow-worker", "mlflow"}
    assert required <= set(SERVICES)


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_services_run_celery_against_postgres_metadata(name):
    env = SERVICES[name]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == f"{WORKDIR}/dags"


def test_every_variable_the_compose_file_uses_is_documented_in_env_example():
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (REPO_ROOT / "docker-compose.yml").read_text()))
    assert used, "compose file should take its secrets from the environment"
    assert used <= set(ENV_EXAMPLE), f"undocumented: {used - set(ENV_EXAMPLE)}"


def test_connection_ids_match_the_code_and_source_config():
    from common.config import load_config

    airflow_env = SERVICES["airflow-scheduler"]["environment"]
    assert f"AIRFLOW_CONN_{WAREHOUSE.upper()}" in airflow_env
    configured = {s["connection"] for s in load_config("sources")["sources"].values()}
    assert configured == {CRM_SOURCE, FINANCE_SOURCE}
    for conn_id in configured:
        assert f"AIRFLOW_CONN_{conn_id.upper()}" in ENV_EXAMPLE


def test_databases_named_in_urls_are_created_by_the_init_script():
    init_sql = (REPO_ROOT / "docker" / "postgres-init" / "01-databases.sql").read_text()
    created = set(re.findall(r"create database (\w+)", init_sql))
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    named = set(re.findall(r"@postgres:5432/(\w+)", text))
    assert named and named <= created


def test_commands_and_mounts_point_at_things_that_exist():
    init_cmd = " ".join(SERVICES["airflow-init"]["command"])
    for module in re.findall(r"python -m ([\w.]+)", init_cmd):
        assert importlib.util.find_spec(module) is not None, module
    for volume in SERVICES["postgres"]["volumes"]:
        host = volume.split(":")[0]
        if host.startswith("./"):
            assert (REPO_ROOT / host).exists(), host
    mlflow_cmd = SERVICES["mlflow"]["command"]
    assert any(a.startswith("--backend-store-uri=postgresql") for a in mlflow_cmd)
    assert any(a.startswith("--artifacts-destination=") for a in mlflow_cmd)
    assert "mlflow-artifacts" in COMPOSE["volumes"]


def test_image_installs_the_locked_stack_including_the_celery_provider():
    assert "pip install -r requirements.txt -c constraints.txt" in DOCKERFILE
    requirements = (REPO_ROOT / "requirements.txt").read_text()
    assert "apache-airflow-providers-celery" in requirements
    assert re.search(r"^apache-airflow-providers-celery==", (REPO_ROOT / "constraints.txt").read_text(), re.M)
