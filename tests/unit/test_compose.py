"""docker-compose.yml cannot start here (no Docker engine): check that it agrees with the code instead."""

from __future__ import annotations

import importlib
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
    assert env["AIRFLOW_CONN_CREDIT_EVENTS"].startswith("${AIRFLOW_CONN_CREDIT_EVENTS:?")  # the triggerer's Redis


COMPOSE_TEXT = (REPO_ROOT / "docker-compose.yml").read_text()
# ${VAR} is read from .env by compose; $${VAR} is escaped and read by the container's shell
USED_VARIABLES = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", COMPOSE_TEXT))
LONG_RUNNING = [n for n in SERVICES if n != "airflow-init"]


def test_every_variable_the_compose_file_uses_is_documented_in_env_example_and_vice_versa():
    assert USED_VARIABLES, "compose file should take its secrets from the environment"
    assert USED_VARIABLES == set(ENV_EXAMPLE), (
        f"undocumented: {USED_VARIABLES - set(ENV_EXAMPLE)}; read by nothing: {set(ENV_EXAMPLE) - USED_VARIABLES}"
    )
    assert "env_file" not in COMPOSE_TEXT, "containers get only the variables compose names, not all of .env"


def test_every_variable_is_required_so_the_stack_refuses_to_start_without_it():
    for name in USED_VARIABLES:
        uses = re.findall(r"(?<!\$)\$\{" + name + r"(:\?|:-|-|\})", COMPOSE_TEXT)
        assert uses and all(u == ":?" for u in uses), f"${{{name}}} must be written ${{{name}:?message}}"
    secrets = {"POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_API_SECRET_KEY",
               "PSEUDONYM_KEY", "SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "BI_SUPERSET_PASSWORD",
               "PIPELINE_DB_PASSWORD"}
    assert secrets <= USED_VARIABLES
    assert all(ENV_EXAMPLE[name] == "" for name in secrets), "secrets must have no default in .env.example"


def test_only_the_airflow_ui_the_credit_desk_and_superset_are_published_and_only_on_loopback():
    published = {name: svc["ports"] for name, svc in SERVICES.items() if svc.get("ports")}
    assert published == {"airflow-apiserver": ["127.0.0.1:8080:8080"], "desk": ["127.0.0.1:8090:8090"],
                         "superset": ["127.0.0.1:8088:8088"]}


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_have_a_healthcheck_and_a_restart_policy(name):
    service = SERVICES[name]
    assert service.get("restart") in {"always", "unless-stopped"}, name
    check = service.get("healthcheck") or {}
    assert check.get("test") and check.get("interval") and check.get("retries"), name


@pytest.mark.parametrize("name", list(SERVICES))
def test_dependencies_wait_for_health_or_for_the_init_to_finish(name):
    for target, rule in (SERVICES[name].get("depends_on") or {}).items():
        assert target in SERVICES, f"{name} depends on unknown service {target}"
        if target == "airflow-init":
            assert rule["condition"] == "service_completed_successfully"
        else:
            assert rule["condition"] == "service_healthy" and SERVICES[target].get("healthcheck"), (name, target)


def test_init_creates_and_hands_over_every_path_mounted_by_a_non_root_service():
    init = SERVICES["airflow-init"]
    script = " ".join(init["command"])
    assert init["user"] == "0:0" and "set -euo pipefail" in script
    for name, service in SERVICES.items():
        if service.get("user") != "50000:0":
            continue
        for volume in service.get("volumes") or []:
            source, target = volume.split(":")[:2]
            assert source in COMPOSE["volumes"], f"{name}: {source} is not a named volume"
            assert "mkdir -p" in script and target in script.split("chown", 1)[1], f"{target} of {name}"
            assert volume in init["volumes"], f"airflow-init must mount {volume} to own it"


def test_official_airflow_image_of_the_locked_version_and_python():
    match = re.search(r"^FROM apache/airflow:(?P<airflow>[\d.]+)-python(?P<python>[\d.]+)$", DOCKERFILE, re.M)
    assert match, "the image must build on the official apache/airflow image"
    locked = re.search(r"^apache-airflow==([\d.]+)$", (REPO_ROOT / "constraints.txt").read_text(), re.M).group(1)
    assert match["airflow"] == locked
    lock_python = re.search(r"CPython (\d+\.\d+)", (REPO_ROOT / "constraints.txt").read_text()).group(1)
    assert match["python"] == lock_python


def test_fab_auth_manager_is_installed_from_the_lock():
    manager = SERVICES["airflow-scheduler"]["environment"]["AIRFLOW__CORE__AUTH_MANAGER"]
    module, _, cls = manager.rpartition(".")
    assert getattr(importlib.import_module(module), cls).__name__ == "FabAuthManager"
    assert re.search(r"^apache-airflow-providers-fab==", (REPO_ROOT / "requirements.txt").read_text(), re.M)


def test_one_postgresql_major_across_compose_the_test_server_and_the_docs(admin_url):
    import psycopg2

    major = int(re.match(r"postgres:(\d+)", SERVICES["postgres"]["image"]).group(1))
    assert f"PostgreSQL {major}" in (REPO_ROOT / "README.md").read_text()
    conn = psycopg2.connect(admin_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        server = conn.server_version // 10000
    finally:
        conn.close()
    embedded = "pgserver" in admin_url or ":55" in admin_url  # the dev-only fallback bundles 16
    assert server == major or embedded, f"tests ran on PostgreSQL {server}, compose runs {major}"


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


def test_superset_runs_from_its_own_lock_and_imports_the_bundle_the_repository_holds():
    dockerfile = (REPO_ROOT / "docker" / "superset" / "Dockerfile").read_text()
    assert "pip install -r requirements.txt -c constraints.txt" in dockerfile  # the files `make bi-install` uses
    assert "COPY bi/superset/requirements.txt docker/superset/constraints.txt ./" in dockerfile
    lock = (REPO_ROOT / "docker" / "superset" / "constraints.txt").read_text()
    assert re.search(r"^apache[-_]superset==6\.1\.0$", lock, re.M)  # pip freeze writes apache_superset
    script = "\n".join(SERVICES["superset"]["command"])
    for module in re.findall(r"python -m ([\w.]+)", script):
        assert importlib.util.find_spec(module) is not None, module
    for path in re.findall(r"python (bi/\S+\.py)", script):
        assert (REPO_ROOT / path).is_file(), path
    env = SERVICES["superset"]["environment"]
    assert env["BI_WAREHOUSE_URI"].startswith("postgresql+psycopg2://bi_superset:")
    assert env["SUPERSET_CONFIG_PATH"].endswith("bi/superset/superset_config.py")


def test_image_installs_the_locked_stack_including_the_celery_provider():
    # the same two files `make install` builds the test environment from, so CI builds the image's stack
    assert "pip install -r requirements.txt -c constraints.txt" in DOCKERFILE
    requirements = (REPO_ROOT / "requirements.txt").read_text()
    assert "apache-airflow-providers-celery" in requirements
    assert re.search(r"^apache-airflow-providers-celery==", (REPO_ROOT / "constraints.txt").read_text(), re.M)
