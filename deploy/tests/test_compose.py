"""The container deployment cannot run here (no Docker engine): check that it parses and that every path, image
and variable it names exists, so a city IT team's `docker compose up` does not fail on a typo."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "compose"
ROOT = COMPOSE.parents[1]
SERVICES = {"intake": 8001, "housing": 8002, "payments": 8003, "reporting": 8004}
IMAGES = {**SERVICES, "desk": 8005}  # the desk has its own image too (no Kafka principal: a client of the APIs)


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


@pytest.mark.parametrize("name", sorted(IMAGES))
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
    assert str(IMAGES[name]) in str(service.get("ports", [])) + text


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


def _intake_reads(variable: str) -> bool:
    from lgnet_intake import settings

    return variable == settings.NATIONAL_KEY_VAR


@pytest.mark.parametrize("where", ["docker-compose.yml", "federated/city.yml"])
def test_intake_gets_the_national_pseudonym_key(where: str) -> None:
    """Without it a city's registrations carry no cross-city key and the national report counts a person who moved
    between cities twice (docs/operators.md, "National pseudonym key"). Intake alone holds it."""
    services = yaml.safe_load((COMPOSE / where).read_text())["services"]
    env = services["intake"]["environment"]
    assert _intake_reads("LGNET_NATIONAL_PSEUDONYM_KEY")
    assert env["LGNET_NATIONAL_PSEUDONYM_KEY"] == "${LGNET_NATIONAL_PSEUDONYM_KEY:-}"
    for other in ("housing", "payments", "reporting"):
        assert "LGNET_NATIONAL_PSEUDONYM_KEY" not in services[other]["environment"], other


@pytest.mark.parametrize("where", ["docker-compose.yml", "federated/city.yml"])
def test_the_desk_is_told_which_services_the_city_runs(where: str) -> None:
    """`docker compose up -d intake housing desk` (a city paying contributions with its own accounting): the desk was
    not told, so it showed and called payments (docs/desk.md, "A city running only some services"). The compose files
    pass LGNET_DESK_SERVICES, all three by default, as the desk's own default."""
    from lgnet_desk.settings import DeskSettings

    env = yaml.safe_load((COMPOSE / where).read_text())["services"]["desk"]["environment"]
    assert env["LGNET_DESK_SERVICES"] == "${LGNET_DESK_SERVICES:-intake,housing,payments}"
    assert DeskSettings.model_fields["services_run"].alias == "LGNET_DESK_SERVICES"


# ---------------------------------------------------------------- the federated topology (deploy/compose/federated)

FEDERATED = COMPOSE / "federated"


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((FEDERATED / name).read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize(
    ("compose_file", "env_example"), [("cluster.yml", "cluster.env.example"), ("city.yml", "city.env.example")]
)
def test_federated_variables_are_documented(compose_file: str, env_example: str) -> None:
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", (FEDERATED / compose_file).read_text()))
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (FEDERATED / env_example).read_text(), flags=re.M))
    assert used and used <= documented, f"not in {env_example}: {sorted(used - documented)}"


def test_the_shared_broker_has_no_plaintext_listener_and_denies_by_default() -> None:
    script = FEDERATED / "kafka-start.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    props = dict(
        line.split("=", 1) for line in script.read_text().splitlines() if re.match(r"^[a-z][a-z0-9._-]*=", line)
    )
    protocols = dict(pair.split(":") for pair in props["listener.security.protocol.map"].split(","))
    assert protocols == {"INTERNAL": "SASL_SSL", "EXTERNAL": "SASL_SSL", "CONTROLLER": "SSL"}
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert "CONTROLLER://127.0.0.1:" in props["listeners"]  # the controller only on the container's loopback
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    kafka = load("cluster.yml")["services"]["kafka"]
    assert kafka["ports"] == ["9093:9093"], "only the external SASL_SSL listener is published"
    assert "./kafka-start.sh:/etc/lgnet/kafka-start.sh:ro" in kafka["volumes"]


def test_the_operators_commands_exist() -> None:
    from lgnet_shared.kafka_admin import parser

    cluster = load("cluster.yml")["services"]
    tls = [
        a.replace("${KAFKA_PUBLIC_HOST:?set KAFKA_PUBLIC_HOST}", "kafka.example") for a in cluster["tls"]["entrypoint"]
    ]
    assert tls[0] == "lgnet-kafka-admin"
    assert parser().parse_args(tls[1:]).command == "tls"
    assert cluster["admin"]["entrypoint"] == ["lgnet-kafka-admin"]
    readme = (FEDERATED / "README.md").read_text()
    for command in re.findall(r"^\$run (.+?)(?:\s+#.*)?$", readme, flags=re.M):
        assert parser().parse_args(command.split()).command, command


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_city_service_is_its_own_principal(name: str) -> None:
    from lgnet_shared import kafka_acls

    service = load("city.yml")["services"][name]
    env = service["environment"]
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SSL_CAFILE"] == "/etc/lgnet/ca.pem"
    assert env["KAFKA_SASL_USERNAME"] == f"service.${{LGNET_DEPLOYMENT}}.{name}"
    principal = kafka_acls.Principal.parse(env["KAFKA_SASL_USERNAME"].replace("${LGNET_DEPLOYMENT}", "torino"))
    assert (principal.deployment, principal.role) == ("torino", name)
    assert env["LGNET_DB_SCHEMA"] == f"${{LGNET_DEPLOYMENT}}_{name}"
    assert env["LGNET_DEPLOYMENT"].startswith("${LGNET_DEPLOYMENT")
    context = (FEDERATED / service["build"]["context"]).resolve()
    assert context / service["build"]["dockerfile"] == ROOT / "services" / name / "Dockerfile"


@pytest.mark.parametrize("where", ["docker-compose.yml", "federated/city.yml"])
def test_the_notary_runs_from_reportings_image_with_its_own_state(where: str) -> None:
    """Auditors need the notary's checkpoints (docs/reporting.md): every container deployment runs it, as its own
    principal where the broker is secured (the only one that writes the checkpoints), with a volume for its trees
    and the port it serves them on."""
    doc = yaml.safe_load((COMPOSE / where).read_text())
    notary = doc["services"]["notary"]
    assert notary["build"]["dockerfile"] == "services/reporting/Dockerfile"
    command = notary["command"]
    assert command[0] == "lgnet-notary" and "--http-port" in command
    assert (
        'lgnet-notary = "lgnet_reporting.entrypoints.audit:notary_main"'
        in (ROOT / "services" / "reporting" / "pyproject.toml").read_text()
    )
    port = command[command.index("--http-port") + 1]
    assert any(str(p).endswith(f":{port}") for p in notary["ports"])
    assert notary["environment"]["LGNET_NOTARY_STATE"] in " ".join(notary["volumes"])
    assert "notary-state" in doc["volumes"]
    if where.startswith("federated"):
        assert notary["environment"]["KAFKA_SASL_USERNAME"] == "notary.${LGNET_DEPLOYMENT}"
        assert notary["environment"]["KAFKA_SASL_PASSWORD"] == "${NOTARY_KAFKA_PASSWORD:-}"


def test_a_citys_plain_up_does_not_start_a_notary() -> None:
    """Only the national deployment runs the notary: a city's `up -d` starts the services without a profile."""
    services = load("city.yml")["services"]
    assert services["notary"]["profiles"] == ["national"]
    assert all("profiles" not in services[name] for name in SERVICES)


def test_a_citys_reporting_pins_the_national_notarys_key() -> None:
    """From an outside test: operators.md says a city's reporting needs LGNET_NOTARY_VERIFIER (the national notary's
    key) or its reports read "not yet anchored", but city.yml never passed it: every city's reporting pinned a key of
    its own (`notary:torino`) that signs nothing, and no city report was ever anchored."""
    env = load("city.yml")["services"]["reporting"]["environment"]
    assert env["LGNET_NOTARY_VERIFIER"] == "${LGNET_NOTARY_VERIFIER:-}"
    example = (FEDERATED / "city.env.example").read_text()
    assert re.search(r"^LGNET_NOTARY_VERIFIER=", example, flags=re.M)


@pytest.mark.parametrize("where", ["docker-compose.yml", "federated/city.yml"])
def test_the_desk_runs_beside_the_services_it_calls(where: str) -> None:
    """The desk (what the one-stop-shop's operators use) was in no container deployment: a city had to write its own.
    It runs from its own image with its own schema, calls the deployment's services, and keeps Secure cookies unless
    a plain-HTTP trial turns them off."""
    desk = yaml.safe_load((COMPOSE / where).read_text())["services"]["desk"]
    assert desk["build"]["dockerfile"] == "services/desk/Dockerfile"
    env = desk["environment"]
    for name in ("intake", "housing", "payments"):
        assert f"http://{name}:{SERVICES[name]}" in env[f"LGNET_{name.upper()}_URL"]
    assert env["LGNET_DB_SCHEMA"] in ("desk", "${LGNET_DEPLOYMENT}_desk")
    assert env["LGNET_DESK_COOKIE_SECURE"] == "${LGNET_DESK_COOKIE_SECURE:-true}"
    assert "KAFKA_SASL_USERNAME" not in env and str(env["LGNET_HTTP_PORT"]) == "8005"


@pytest.mark.parametrize("where", ["docker-compose.yml", "federated/city.yml"])
def test_reporting_trusts_the_key_the_notary_signs_with_when_the_env_sets_one(where: str) -> None:
    """From an outside test: with LGNET_NOTARY_KEY set in .env (as .env.example offers and the docs advise for
    production), the notary signed with it while reporting, not given it, trusted the key derived from the master key:
    no report was ever anchored ("Non ancorato"). Each container's environment, with .env's values put in, must give
    the verifier reporting pins as the one the notary signs with."""
    import base64

    from lgnet_reporting.settings import notary_signer, notary_verifiers

    dotenv = {
        "LGNET_MASTER_KEY": base64.b64encode(bytes(range(32))).decode(),
        "LGNET_NOTARY_KEY": base64.b64encode(bytes(range(32, 64))).decode(),
        "LGNET_DEPLOYMENT": "torino",
        "LGNET_CITY": "torino",
    }

    def resolved(service: str) -> dict[str, str]:
        environment = yaml.safe_load((COMPOSE / where).read_text())["services"][service]["environment"]

        def expand(v: object) -> str:
            return re.sub(r"\$\{(\w+)(?::?[-?][^}]*)?\}", lambda m: dotenv.get(m[1], ""), str(v))

        return {k: expand(v) for k, v in environment.items()}

    signer = notary_signer(resolved("notary"))
    assert signer is not None and signer.verifier.name.startswith("lgnet-notary.torino")
    assert notary_verifiers(resolved("reporting")) == [signer.verifier]


def test_a_city_on_the_shared_cluster_runs_its_scheduler_and_each_container_says_when_it_is_ready() -> None:
    """From an outside test: city.yml had no scheduler — a city on the shared cluster never released its holds, sent
    no stalled-match reminder, never expired a voucher — and no healthcheck, so `up` could not tell a service that
    refused to start from one serving. The scheduler runs as docker-compose.yml's does (housing's image, its own
    schema, the city's staff tokens, the services' addresses); every container's health is its readiness."""
    services = load("city.yml")["services"]
    scheduler = services["scheduler"]
    assert "profiles" not in scheduler  # a city's plain `up -d` starts it
    assert scheduler["build"]["dockerfile"] == "services/housing/Dockerfile" and scheduler["command"] == [
        "lgnet-scheduler"
    ]
    env = scheduler["environment"]
    assert env["LGNET_DB_SCHEMA"] == "${LGNET_DEPLOYMENT}_scheduler"
    assert env["LGNET_SCHEDULER_TOKENS"] == "${LGNET_SCHEDULER_TOKENS:-}"
    assert {env[f"LGNET_{s.upper()}_URL"] for s in ("intake", "housing", "payments")} == {
        "http://intake:8001", "http://housing:8002", "http://payments:8003"}  # fmt: skip
    ports = {**SERVICES, "desk": 8005, "scheduler": 8006, "notary": 8007}
    for name, port in ports.items():
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/health/" in probe, (name, probe)
