"""The container deployment cannot run here (no Docker engine): check that it parses and that every path, image
and variable it names exists, so a city IT team's `docker compose up` does not fail on a typo."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "compose"
ROOT = COMPOSE.parents[1]
SERVICES = {"intake": 8001, "housing": 8002, "payments": 8003, "reporting": 8004}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def test_kafka_in_kraft_mode_and_postgres(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller" and "ZOOKEEPER" not in " ".join(env)
    assert str(env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"]) == "1"
    assert compose["services"]["postgres"]["image"].startswith("postgres:")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_is_built_from_its_own_dockerfile(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    context = (COMPOSE / service["build"]["context"]).resolve()
    dockerfile = context / service["build"]["dockerfile"]
    assert dockerfile == ROOT / "services" / name / "Dockerfile" and dockerfile.exists()
    text = dockerfile.read_text()
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.M):
        assert (context / source).exists(), f"{dockerfile} copies {source}, which does not exist"
    assert f'CMD ["lgnet-{name}"]' in text
    pyproject = (ROOT / "services" / name / "pyproject.toml").read_text()
    assert f'lgnet-{name} = "lgnet_{name}.entrypoints.main:main"' in pyproject
    assert str(SERVICES[name]) in str(service.get("ports", [])) + text


def test_every_variable_is_documented_in_the_env_example(compose: dict[str, Any]) -> None:
    text = (COMPOSE / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    example = (COMPOSE / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, flags=re.M))
    assert used, "the compose file names no variable at all?"
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"
    env = compose["x-service-env"]
    for required in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "LGNET_CITY", "LGNET_MASTER_KEY"):
        assert required in env
