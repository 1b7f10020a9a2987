"""docker-compose.yml, checked without a container engine: `docker-compose config` must accept
it, and the services, commands and settings it resolves to must be the ones the deployment
needs.

Without docker-compose this module skips with one line; under CI (CI=true) every test fails
instead, since .ci/run installs it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.cli import parser
from domain.store.config import settings_from_url
from tests.conftest import IN_CI
from tests.deploy.helpers import documented_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER_COMPOSE = shutil.which("docker-compose")
if DOCKER_COMPOSE is None and not IN_CI:
    pytest.skip("docker-compose not installed: compose file checks skipped (apt-get install "
                "docker-compose to enable them)", allow_module_level=True)
PASSWORD = "compose-test-password"
PARINDEX_SERVICES = ("migrate", "api", "projector")


def compose(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose ARGS` with only PATH and `env` in the environment, ignoring any .env
    file a developer keeps beside the compose file."""
    executable = DOCKER_COMPOSE
    if executable is None:  # only under CI: elsewhere the module is skipped
        pytest.fail("CI=true and docker-compose is not installed (.ci/run installs it with "
                    "apt-get install docker-compose)")
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(ROOT)}
    with tempfile.TemporaryDirectory() as empty:
        env_file = Path(empty) / "none.env"
        env_file.write_text("")
        return subprocess.run([executable, "--env-file", str(env_file), "-f",
                               str(ROOT / "docker-compose.yml"), *args], cwd=ROOT,
                              env={**base, **env}, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = compose("config", POSTGRES_PASSWORD=PASSWORD)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_the_services_are_postgres_a_migration_the_api_and_the_projection_worker(config):
    assert set(config["services"]) == {"postgres", *PARINDEX_SERVICES}
    images = {config["services"][name]["image"] for name in PARINDEX_SERVICES}
    assert len(images) == 1, "every parindex role runs the same image"


def test_postgres_keeps_its_data_in_a_volume_and_has_a_health_check(config):
    postgres = config["services"]["postgres"]
    assert postgres["image"].startswith("postgres:15")
    assert any(v.startswith("pgdata:/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pgdata" in config["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["environment"]["POSTGRES_PASSWORD"] == PASSWORD


def test_the_migration_runs_once_after_postgres_is_healthy_and_gates_the_others(config):
    services = config["services"]
    assert services["migrate"]["command"] == ["parindex", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "projector"):
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"
        assert services[name]["restart"] == "unless-stopped"


def test_the_api_runs_workers_without_projections_and_the_worker_projects(config):
    api, projector = config["services"]["api"], config["services"]["projector"]
    assert api["command"][:2] == ["parindex", "serve-workers"]
    assert api["environment"]["PARINDEX_API_WORKERS"] == "2"
    assert "/livez" in " ".join(api["healthcheck"]["test"])
    assert any(v.startswith("evidence:/app/var/blobs") for v in api["volumes"])
    assert api["environment"]["PARINDEX_BLOB_DIR"] == "/app/var/blobs"
    assert projector["command"] == ["parindex", "project"]


def test_every_command_is_a_valid_parindex_command_line(config):
    for name in PARINDEX_SERVICES:
        command = config["services"][name]["command"]
        assert command[0] == "parindex"
        args = parser().parse_args(command[1:])  # exits (fails the test) on a bad command line
        assert callable(args.run)


def test_the_store_setting_is_postgresql_with_the_password_from_the_environment(config):
    for name in PARINDEX_SERVICES:
        environment = config["services"][name]["environment"]
        settings = settings_from_url(environment["PARINDEX_DATABASE_URL"])
        assert settings.kind == "postgresql"
        assert settings.library_env["POSTGRES_HOST"] == "postgres"
        assert settings.library_env["POSTGRES_PASSWORD"] == PASSWORD
        # Every setting passed in is one docs/configuration.md documents.
        documented = documented_settings()
        assert {k for k in environment if k.startswith("PARINDEX_")} <= documented


def test_there_is_no_default_password():
    result = compose("config")
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_replicas_publish_a_port_range(config):
    result = compose("config", POSTGRES_PASSWORD=PASSWORD, PARINDEX_API_PORT="8000-8002")
    assert result.returncode == 0, result.stderr
    ports = yaml.safe_load(result.stdout)["services"]["api"]["ports"]
    assert any("8000-8002:8000" in str(port) for port in ports)
