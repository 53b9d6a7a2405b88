"""The Helm chart (deploy/helm/lgnet) rendered with `helm template` for the national coordination and two cities,
every object validated offline: Kubernetes kinds against the Kubernetes JSON schemas of the kubernetes-validate
package (strict: no unknown fields), Strimzi kinds against Strimzi's CRD schemas vendored in
deploy/helm/schemas/ (source named there). The Strimzi topics and users come from the registry and the ACL
derivation (`lgnet_shared.strimzi`, what `lgnet-kafka-admin strimzi` prints), and must say exactly what they say."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from lgnet_shared import kafka_acls as ka
from lgnet_shared import strimzi
from lgnet_shared.cities import programme_cities
from lgnet_shared.topics import SERVICES, TOPICS, city_of_topic, family_of, physical, registry_topics, retired_topics

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "lgnet"
EXAMPLES = ROOT / "deploy" / "helm" / "examples"
STRIMZI_CRDS = ROOT / "deploy" / "helm" / "schemas" / "strimzi-1.2.0"
KUBERNETES = "1.33.0"  # the oldest Kubernetes the chart is validated for (the schemas ship with the package)
# The national coordination owns the cluster and its topics and runs reporting; each city runs its four services.
CONFIGS = {
    "national": ("national", ["reporting"], True),
    "torino": ("torino", list(SERVICES), False),
    "trieste": ("trieste", list(SERVICES), False),
}


def helm() -> str:
    found = shutil.which("helm") or str(ROOT / ".local" / "tools" / "bin" / "helm")
    if not Path(found).exists():
        pytest.fail("helm is not installed: `make helm` builds it into .local/tools/bin (Go module proxy)")
    return found


@cache
def render(config: str, tmp: Path) -> list[dict[str, Any]]:
    deployment, services, with_topics = CONFIGS[config]
    generated = tmp / f"{config}-strimzi.json"
    generated.write_text(json.dumps(strimzi.values(deployment, services, with_topics=with_topics, notary=with_topics)))
    done = subprocess.run(
        [helm(), "template", f"lgnet-{config}", str(CHART), "--namespace", f"lgnet-{config}",
         "--kube-version", KUBERNETES, "-f", str(EXAMPLES / f"{config}.yaml"), "-f", str(generated)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@cache
def crd_schema(kind: str) -> dict[str, Any]:
    for path in STRIMZI_CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
            return dict(version["schema"]["openAPIV3Schema"])
    raise KeyError(kind)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("helm")
    return {config: render(config, tmp) for config in CONFIGS}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_every_object_is_valid_against_its_schema(rendered: dict[str, list[dict[str, Any]]], config: str) -> None:
    objects = rendered[config]
    assert objects
    for obj in objects:
        where = f"{config}: {obj['kind']} {obj['metadata']['name']}"
        if obj["apiVersion"].startswith("kafka.strimzi.io/"):
            assert obj["apiVersion"] == strimzi.STRIMZI_API, where
            errors = sorted(
                jsonschema.Draft7Validator(crd_schema(obj["kind"])).iter_errors(obj), key=lambda e: list(e.path)
            )
            assert not errors, f"{where}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
        else:
            try:
                kubernetes_validate.validate(obj, KUBERNETES, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{where}: {exc.message} at {list(exc.path)}")


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_each_service_has_probes_resources_a_budget_and_its_kafka_user(
    rendered: dict[str, list[dict[str, Any]]], config: str
) -> None:
    objects = rendered[config]
    deployment, services, _ = CONFIGS[config]
    own = ("-scheduler", "-notary", "-desk")  # not Kafka services: their own tests below
    deployments = {k: v for k, v in by_kind(objects, "Deployment").items() if not k.endswith(own)}
    assert sorted(deployments) == sorted(f"lgnet-{config}-{s}" for s in services)
    users = by_kind(objects, "KafkaUser")
    pdbs, svcs = by_kind(objects, "PodDisruptionBudget"), by_kind(objects, "Service")
    for name, d in deployments.items():
        assert name in pdbs and name in svcs
        container = d["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
        env = {e["name"]: e for e in container["env"]}
        user = env["KAFKA_SASL_USERNAME"]["value"]
        assert user in users, f"{name} logs in as {user}, which no KafkaUser declares"
        # Secrets are referenced, never inlined.
        for secret in ("KAFKA_SASL_PASSWORD", "DATABASE_URL", "LGNET_MASTER_KEY"):
            assert "secretKeyRef" in env[secret]["valueFrom"]
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == user
        # The national pseudonym key: a city's intake only (docs/operators.md, "National pseudonym key").
        if name.endswith("-intake"):
            ref = env["LGNET_NATIONAL_PSEUDONYM_KEY"]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == ("lgnet-national-pseudonym-key", "key")
        else:
            assert "LGNET_NATIONAL_PSEUDONYM_KEY" not in env
    config_map = next(iter(by_kind(objects, "ConfigMap").values()))["data"]
    assert (config_map["LGNET_CITY"], config_map["LGNET_DEPLOYMENT"]) == (deployment, deployment)
    assert config_map["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert by_kind(objects, "NetworkPolicy"), "no NetworkPolicy"


@pytest.mark.parametrize("config", list(CONFIGS))
def test_a_city_runs_one_scheduler_that_may_call_its_services(
    rendered: dict[str, list[dict[str, Any]]], config: str
) -> None:
    objects = rendered[config]
    _, services, _ = CONFIGS[config]
    name = f"lgnet-{config}-scheduler"
    if "housing" not in services:  # the national deployment runs reporting only: nothing daily to call
        assert name not in by_kind(objects, "Deployment")
        return
    d = by_kind(objects, "Deployment")[name]
    assert d["spec"]["replicas"] == 1
    container = d["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["lgnet-scheduler"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    env = {e["name"]: e for e in container["env"]}
    assert (env["LGNET_SCHEDULER_AT"]["value"], env["LGNET_SCHEDULER_TZ"]["value"]) == ("06:00", "Europe/Rome")
    assert env["LGNET_DEPLOYMENT"]["value"] == config  # its log lines name the deployment, as the services'
    assert env["LGNET_HOUSING_URL"]["value"] == f"http://lgnet-{config}-housing:8002"
    for secret in ("LGNET_SCHEDULER_TOKENS", "DATABASE_URL"):
        assert "secretKeyRef" in env[secret]["valueFrom"]
    assert name in by_kind(objects, "Service")
    policies = by_kind(objects, "NetworkPolicy")
    egress_ports = {p["port"] for rule in policies[name]["spec"]["egress"] for p in rule["ports"]}
    assert {8001, 8002, 8003} <= egress_ports
    admitted = policies[f"lgnet-{config}-services"]["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "lgnet-scheduler",
            "app.kubernetes.io/instance": f"lgnet-{config}"}}} in admitted  # fmt: skip


@pytest.mark.parametrize("config", list(CONFIGS))
def test_kafka_users_carry_exactly_the_derived_acls(rendered: dict[str, list[dict[str, Any]]], config: str) -> None:
    for name, user in by_kind(rendered[config], "KafkaUser").items():
        principal = ka.Principal.parse(name)
        derived = ka.derive(principal)
        acls = user["spec"]["authorization"]["acls"]
        assert len(acls) == len(derived)
        assert acls == [strimzi.acl(a) for a in derived]
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"


def test_the_cluster_owner_declares_every_registry_topic_replicated(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    declared = by_kind(rendered["national"], "KafkaTopic").values()
    topics = {t["spec"]["topicName"]: t["spec"] for t in declared}
    assert sorted(topics) == sorted(physical(t) for t in registry_topics() + retired_topics())
    # The retired shared topics: declared unmanaged (kept where a cluster holds them, never made again).
    unmanaged = sorted(t["spec"]["topicName"] for t in declared if t["metadata"].get("annotations"))
    assert unmanaged == sorted(physical(t) for t in retired_topics())
    assert all(
        t["metadata"]["annotations"] == {"strimzi.io/managed": "false"}
        for t in declared
        if t["spec"]["topicName"] in unmanaged
    )
    for name, spec in topics.items():
        logical = name.removeprefix("lgnet.")
        registered = TOPICS[logical] if logical in TOPICS else family_of(logical)[0]  # a city's inbound topic
        assert spec["partitions"] == registered.partitions
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == "2"
        assert spec["config"]["retention.ms"] == registered.configs()["retention.ms"]
    kafka = next(iter(by_kind(rendered["national"], "Kafka").values()))
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    assert [listener["authentication"]["type"] for listener in kafka["spec"]["kafka"]["listeners"]] == ["scram-sha-512"]
    pools = by_kind(rendered["national"], "KafkaNodePool")
    assert sorted(tuple(p["spec"]["roles"]) for p in pools.values()) == [("broker",), ("controller",)]
    # Cities declare users, never the cluster or its topics.
    for city in ("torino", "trieste"):
        assert not by_kind(rendered[city], "Kafka") and not by_kind(rendered[city], "KafkaTopic")


def test_the_pods_serve_the_cities_whose_topics_the_chart_declares(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The generated values carry the programme their topics and users follow (review: the ConfigMap said all 16 next
    to the test programme's five inbound topics, and national pods would have read eleven topics never made)."""
    config_map = next(iter(by_kind(rendered["national"], "ConfigMap").values()))["data"]
    inbound = [
        city_of_topic(t["spec"]["topicName"].removeprefix("lgnet."))
        for t in by_kind(rendered["national"], "KafkaTopic").values()
    ]
    assert programme_cities(config_map["LGNET_PROGRAMME_CITIES"]) == tuple(sorted(c for c in inbound if c))
    assert len(programme_cities(config_map["LGNET_PROGRAMME_CITIES"])) < 16  # the suite's own programme


@pytest.mark.parametrize("config", list(CONFIGS))
def test_the_national_deployment_runs_the_notary_as_its_own_principal(
    rendered: dict[str, list[dict[str, Any]]], config: str
) -> None:
    objects, name = rendered[config], f"lgnet-{config}-notary"
    if config != "national":  # a city's reporting principal reads its own facts only: no notary there
        assert name not in by_kind(objects, "Deployment")
        return
    d = by_kind(objects, "Deployment")[name]
    assert d["spec"]["replicas"] == 1
    container = d["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["lgnet-notary", "run"] and "--http-port" in container["command"]
    env = {e["name"]: e for e in container["env"]}
    # Its own principal, whose password Strimzi keeps in the Secret named like the user; the only one that writes
    # the checkpoints (a city's reporting cannot publish one).
    assert env["KAFKA_SASL_USERNAME"]["value"] == "notary.national"
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "notary.national"
    user = by_kind(objects, "KafkaUser")["notary.national"]
    writes = [a for a in user["spec"]["authorization"]["acls"] if a["operations"] != ["Read"]]
    assert writes == [strimzi.acl(ka.Acl(ka.ResourceType.TOPIC, "lgnet.checkpoints", ka.Pattern.LITERAL,
                                         "User:notary.national", ka.Op.WRITE))]  # fmt: skip
    assert "secretKeyRef" in env["LGNET_MASTER_KEY"]["valueFrom"]  # the notary key derives from it by default
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert env["LGNET_NOTARY_STATE"]["value"] in mounts
    assert name in by_kind(objects, "Service")
    # A notary that stopped following the log (or whose Kafka is gone) is taken out of its Service: an auditor gets
    # no answer rather than stale checkpoints (the notary serves /health/ready since this session's outside test).
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    ingress = by_kind(objects, "NetworkPolicy")[f"lgnet-{config}-services"]["spec"]["ingress"][0]["ports"]
    assert {"protocol": "TCP", "port": 8007} in ingress


def test_a_citys_reporting_pins_the_national_notarys_key(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """From an outside test: a city's reporting was given no LGNET_NOTARY_VERIFIER, so it pinned a key of its own that
    signs nothing and its reports were never anchored. The chart passes `notary.verifier`, and refuses to render a
    city without it."""
    verifier = yaml.safe_load((EXAMPLES / "torino.yaml").read_text())["notary"]["verifier"]
    for config in ("torino", "trieste"):
        d = by_kind(rendered[config], "Deployment")[f"lgnet-{config}-reporting"]
        env = {e["name"]: e for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["LGNET_NOTARY_VERIFIER"]["value"] == verifier, config
    bare = tmp_path / "bare.yaml"
    bare.write_text("city: genova\n")
    args = [helm(), "template", "lgnet-genova", str(CHART), "--kube-version", KUBERNETES, "-f", str(bare)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "notary.verifier" in done.stderr, done.stderr


def pod_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec of a Deployment or a CronJob."""
    template = obj["spec"]["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else obj["spec"]["template"]
    return dict(template["spec"])


@pytest.mark.parametrize("config", list(CONFIGS))
def test_a_city_runs_the_desk_that_calls_its_services(rendered: dict[str, list[dict[str, Any]]], config: str) -> None:
    """The desk (what the one-stop-shop's operators use) was in no deployment: a city IT team had to write its own
    Deployment. It runs where intake runs, as its own non-root pod, reaches the services and PostgreSQL only, and is
    reached from the ingress controller's namespace only."""
    objects, name = rendered[config], f"lgnet-{config}-desk"
    if config == "national":  # reporting only: no person's data to work on
        assert name not in by_kind(objects, "Deployment")
        return
    d = by_kind(objects, "Deployment")[name]
    assert d["spec"]["replicas"] == 2  # sessions and login throttle are in PostgreSQL: any replica serves anyone
    pod = pod_of(d)
    container = pod["containers"][0]
    assert container["command"] == ["lgnet-desk"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]
    env = {e["name"]: e for e in container["env"]}
    plain = {k: e["value"] for k, e in env.items() if "value" in e}
    assert plain["LGNET_DB_SCHEMA"] == "desk" and plain["LGNET_HTTP_PORT"] == "8005"
    assert plain["LGNET_HTTP_HOST"] == "0.0.0.0" and plain["LGNET_DESK_COOKIE_SECURE"] == "true"
    assert plain["LGNET_DESK_FORWARDED_ALLOW_IPS"]  # the ingress controller's: the login throttle counts by client
    for service, port in (("intake", 8001), ("housing", 8002), ("payments", 8003)):
        assert plain[f"LGNET_{service.upper()}_URL"] == f"http://lgnet-{config}-{service}:{port}"
    assert plain["LGNET_DESK_SERVICES"] == "intake,housing,payments"
    assert plain["LGNET_DEPLOYMENT"] == config  # its log lines name the deployment, as the services' (they had none)
    for secret in ("DATABASE_URL", "LGNET_MASTER_KEY"):
        assert "secretKeyRef" in env[secret]["valueFrom"]
    assert not [k for k in env if k.startswith(("KAFKA_", "LGNET_DESK_OIDC", "LGNET_DESK_PRIVACY"))]  # none set
    assert name in by_kind(objects, "Service") and name in by_kind(objects, "PodDisruptionBudget")
    policies = by_kind(objects, "NetworkPolicy")
    own = policies[name]["spec"]
    assert own["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "ingress-nginx"}}}], "ports": [{"protocol": "TCP", "port": 8005}]}]  # fmt: skip
    assert {p["port"] for rule in own["egress"] for p in rule["ports"]} == {8001, 8002, 8003}
    admitted = policies[f"lgnet-{config}-services"]["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "lgnet-desk",
            "app.kubernetes.io/instance": f"lgnet-{config}"}}} in admitted  # fmt: skip
    assert not by_kind(objects, "Ingress")  # the examples publish none: the city's own ingress, or desk.ingress


def test_the_desk_can_be_published_with_tls_and_log_in_through_the_citys_identity_provider(tmp_path: Path) -> None:
    values = tmp_path / "desk.yaml"
    values.write_text(yaml.safe_dump({"desk": {
        "ingress": {"enabled": True, "className": "nginx", "host": "sportello.comune.torino.it",
                    "tlsSecret": "sportello-tls"},
        "oidc": {"issuer": "https://login.comune.torino.it/realms/city", "clientId": "lgnet-desk",
                 "redirectUrl": "https://sportello.comune.torino.it/login/oidc/callback", "clientSecret": "desk-oidc",
                 "egressTo": [{"ipBlock": {"cidr": "192.0.2.10/32"}}]},
        "privacy": {"controller": "Comune di Torino, piazza Palazzo di Città 1"},
    }}))  # fmt: skip
    args = [helm(), "template", "lgnet-torino", str(CHART), "--kube-version", KUBERNETES,
            "-f", str(EXAMPLES / "torino.yaml"), "-f", str(values)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    objects = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    for obj in objects:
        if obj["kind"] in ("Ingress", "Deployment", "NetworkPolicy"):
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    ingress = by_kind(objects, "Ingress")["lgnet-torino-desk"]["spec"]
    assert ingress["tls"] == [{"hosts": ["sportello.comune.torino.it"], "secretName": "sportello-tls"}]
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "lgnet-torino-desk", "port": {"number": 8005}}
    container = pod_of(by_kind(objects, "Deployment")["lgnet-torino-desk"])["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["LGNET_DESK_OIDC_ISSUER"]["value"] == "https://login.comune.torino.it/realms/city"
    assert env["LGNET_DESK_OIDC_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "desk-oidc", "key": "secret"}
    assert env["LGNET_DESK_PRIVACY_CONTROLLER"]["value"].startswith("Comune di Torino")
    egress = by_kind(objects, "NetworkPolicy")["lgnet-torino-desk"]["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "192.0.2.10/32"}}], "ports": [{"protocol": "TCP", "port": 443}]} in egress
    # Without the redirect address the chart names the one the desk serves (it said /auth/callback: a 404 after
    # every sign-in at the identity provider that registered it)
    values.write_text(
        yaml.safe_dump(
            {
                "desk": {
                    "oidc": {
                        "issuer": "https://login.comune.torino.it/realms/city",
                        "clientId": "lgnet-desk",
                        "clientSecret": "desk-oidc",
                    }
                }
            }
        )
    )
    refused = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "https://<the desk's host>/login/oidc/callback" in refused.stderr, refused.stderr
    served = (ROOT / "services/desk/src/lgnet_desk/entrypoints/web.py").read_text()
    assert '@api.get("/login/oidc/callback"' in served  # where the desk takes the identity provider's answer


def test_each_component_runs_from_its_own_image_when_the_city_builds_one_per_service(tmp_path: Path) -> None:
    """The project builds one image per service (services/<name>/Dockerfile, as Compose runs them), yet the chart
    took one `image` for every pod: a city using those images could not install it. Each component may name its own
    image (repository, tag, pull policy: each falls back to the chart's `image`); the scheduler runs from housing's and
    the notary from reporting's unless given theirs, each CronJob from its component's."""
    own = {name: {"repository": f"registry.comune.torino.it/lgnet-{name}", "tag": "2.1.0"} for name in SERVICES}
    values = tmp_path / "images.yaml"
    values.write_text(yaml.safe_dump({
        "services": {name: {"image": image} for name, image in own.items()},
        "desk": {"image": {"repository": "registry.comune.torino.it/lgnet-desk", "pullPolicy": "Always"}},
    }))  # fmt: skip

    def images(config: str, *more: Path) -> dict[str, tuple[str, str]]:
        args = [helm(), "template", f"lgnet-{config}", str(CHART), "--kube-version", KUBERNETES,
                "-f", str(EXAMPLES / f"{config}.yaml")] + [a for m in more for a in ("-f", str(m))]  # fmt: skip
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        objects = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
        return {
            o["metadata"]["name"].removeprefix(f"lgnet-{config}-"): (c["image"], c["imagePullPolicy"])
            for o in objects
            if o["kind"] in ("Deployment", "CronJob")
            for c in pod_of(o)["containers"]
        }

    one = "registry.example.org/lgnet/lgnet:0.1.0", "IfNotPresent"
    assert set(images("torino").values()) == {one}  # no component's own: the chart's image everywhere
    torino = images("torino", values)
    for name in SERVICES:
        assert torino[name] == (f"registry.comune.torino.it/lgnet-{name}:2.1.0", "IfNotPresent"), name
    assert torino["desk"] == ("registry.comune.torino.it/lgnet-desk:0.1.0", "Always")  # the chart's tag
    assert torino["scheduler"] == torino["housing"]
    assert torino["intake-purge-read-log"] == torino["intake-rotate-inbound-key"] == torino["intake"]
    assert torino["housing-purge-read-log"] == torino["housing"] and torino["desk-purge"] == torino["desk"]
    assert torino["payments-purge-read-log"] == torino["payments"]
    national = images("national", values)
    assert national["notary"] == national["reporting"] == ("registry.comune.torino.it/lgnet-reporting:2.1.0",
                                                           "IfNotPresent")  # fmt: skip


# What each city's cron jobs run (the retention of the DPO's logs, the intake key's rotation), by job name.
CRON_JOBS = {
    "intake-purge-read-log": (["lgnet-admin", "purge-read-log", "--days", "730"], "intake", "15 3 * * *"),
    "housing-purge-read-log": (["lgnet-admin", "purge-read-log", "--days", "730"], "housing", "20 3 * * *"),
    # payments' read log of payees (payments-21); its download log goes with its files
    "payments-purge-read-log": (["lgnet-admin", "purge-read-log", "--days", "730"], "payments", "30 3 * * *"),
    "desk-purge": (["lgnet-desk-admin", "purge", "--days", "730", "--login-days", "90"], "desk", "25 3 * * *"),
    "intake-rotate-inbound-key": (["lgnet-intake-admin", "rotate-inbound-key"], "intake", "5 * * * *"),
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_the_logs_retention_and_the_inbound_key_rotation_run_as_cron_jobs(
    rendered: dict[str, list[dict[str, Any]]], config: str
) -> None:
    """docs/operators.md told operators to run the purges of the DPO's logs and the intake key's rotation from their
    own cron: nothing in the chart did, so a city forgetting it kept read logs past their retention. Each runs as a
    CronJob of the component it belongs to, one at a time, in the components' image and their pod's restrictions."""
    jobs = by_kind(rendered[config], "CronJob")
    if config == "national":  # reporting keeps no read log and no inbound key
        assert jobs == {}
        return
    assert sorted(jobs) == sorted(f"lgnet-{config}-{j}" for j in CRON_JOBS)
    for job, (command, schema, schedule) in CRON_JOBS.items():
        spec = jobs[f"lgnet-{config}-{job}"]["spec"]
        assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == (schedule, "Europe/Rome", "Forbid")
        pod = pod_of(jobs[f"lgnet-{config}-{job}"])
        assert pod["restartPolicy"] == "OnFailure" and pod["securityContext"]["runAsNonRoot"]
        container = pod["containers"][0]
        assert container["command"] + container.get("args", []) == command, job
        assert container["securityContext"]["readOnlyRootFilesystem"]
        env = {e["name"]: e for e in container["env"]}
        assert env["LGNET_DB_SCHEMA"]["value"] == schema
        assert env["LGNET_ADMIN_BY"]["value"] == f"cronjob/{job}"  # who ran it, in the record of admin actions
        for secret in ("DATABASE_URL", "LGNET_MASTER_KEY"):
            assert "secretKeyRef" in env[secret]["valueFrom"]


# One row of each log the CronJobs purge, at a given time (`$1`), by component.
LOG_ROW = "insert into read_log (at, principal, role, partner, city, {}, kind, outcome, via) values ($1, 'coop',"
SEEDS = {
    "intake": [LOG_ROW.format("person_id, person_city") + " 'partner', 'coop', 'torino', 'p-1', 'torino', 'record',"
               " 'shown', 'api')"],
    "housing": [LOG_ROW.format("household_id, person_ids") + " 'partner', 'coop', 'torino', 'h-1', '{p-1}', 'why',"
                " 'shown', 'api')"],
    "payments": [LOG_ROW.format("request_id, case_id, household_id, person_ids") + " 'partner', 'coop', 'torino',"
                 " 'r-1', 'c-1', 'h-1', '{p-1}', 'payee', 'shown', 'api')"],
    "desk": ["insert into access_log (at, operator, city, person_id, purpose, action, outcome)"
             " values ($1, 'maria', 'torino', 'p-1', 'case_work', 'cartella', 'shown')",
             "insert into login_attempts (at, username, succeeded) values ($1, 'maria', true)"],
}  # fmt: skip


@pytest.mark.integration
async def test_each_cron_job_does_its_work_with_the_environment_the_chart_gives_it(
    rendered: dict[str, list[dict[str, Any]]], database_url: str
) -> None:
    """Each of Torino's CronJobs' commands, run as the chart runs it (its ConfigMap, its env, the secrets given),
    against real PostgreSQL with each component's schema as the component makes it: the entries past the retention
    are gone, the others kept; the key rotation runs."""
    import asyncio
    import base64
    import os
    import sys
    from asyncio.subprocess import PIPE
    from datetime import UTC, datetime, timedelta

    from lgnet_desk.adapters.schema import MIGRATIONS as DESK
    from lgnet_housing.entrypoints.main import SPEC as HOUSING
    from lgnet_intake.entrypoints.main import SPEC as INTAKE
    from lgnet_payments.entrypoints.main import SPEC as PAYMENTS
    from lgnet_shared import db
    from lgnet_shared.runtime_schema import all_migrations
    from lgnet_shared.testing.plugin import fresh_schema

    objects = rendered["torino"]
    config_map = next(iter(by_kind(objects, "ConfigMap").values()))["data"]
    secrets = {"DATABASE_URL": database_url, "LGNET_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    old, recent = datetime.now(UTC) - timedelta(days=800), datetime.now(UTC) - timedelta(days=10)
    async with (
        fresh_schema(database_url) as intake,
        fresh_schema(database_url) as housing,
        fresh_schema(database_url) as payments,
        fresh_schema(database_url) as desk,
    ):
        schemas = {"intake": intake, "housing": housing, "payments": payments, "desk": desk}
        migrations = {"intake": all_migrations(INTAKE.migrations), "housing": all_migrations(HOUSING.migrations),
                      "payments": all_migrations(PAYMENTS.migrations), "desk": DESK}  # fmt: skip
        for component, schema in schemas.items():
            pool = await db.create_pool(database_url, schema, max_size=1)
            try:
                await db.migrate(pool, migrations[component])
                async with pool.acquire() as conn:
                    for at in (old, recent):
                        for sql in SEEDS[component]:
                            await conn.execute(sql, at)
            finally:
                await pool.close()
        for job in CRON_JOBS:
            container = pod_of(by_kind(objects, "CronJob")[f"lgnet-torino-{job}"])["containers"][0]
            env = {**config_map, **{e["name"]: e.get("value") or secrets[e["name"]] for e in container["env"]}}
            env["LGNET_DB_SCHEMA"] = schemas[env["LGNET_DB_SCHEMA"]]
            env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
            run = await asyncio.create_subprocess_exec(
                *container["command"], *container.get("args", []), env=env, stdout=PIPE, stderr=PIPE
            )
            out, err = await asyncio.wait_for(run.communicate(), 120)
            assert run.returncode == 0, (job, out.decode(), err.decode())
        for component, schema in schemas.items():
            conn = await asyncpg_connect(database_url, schema)
            try:
                tables = ("access_log", "login_attempts") if component == "desk" else ("read_log",)
                for table in tables:
                    left = [r["at"] for r in await conn.fetch(f"select at from {table}")]
                    assert left == [recent], (component, table, left)
                ran = {(r["run_by"], r["command"]) for r in await conn.fetch("select * from admin_actions")}
                jobs = {(f"cronjob/{job}", cmd[1]) for job, (cmd, home, _) in CRON_JOBS.items() if home == component}
                assert ran == jobs, (component, ran)  # who ran each job, in its component's record of admin actions
            finally:
                await conn.close()


async def asyncpg_connect(database_url: str, schema: str) -> Any:
    import asyncpg

    return await asyncpg.connect(database_url, server_settings={"search_path": schema})


def render_over_torino(release: str, values: Path) -> list[dict[str, Any]]:
    """Torino's example with `values` over it, rendered as `release`."""
    done = subprocess.run(
        [helm(), "template", release, str(CHART), "--kube-version", KUBERNETES,
         "-f", str(EXAMPLES / "torino.yaml"), "-f", str(values)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_a_city_running_intake_alone_still_runs_its_daily_work(tmp_path: Path) -> None:
    """A city that runs intake only (housing matched by hand, reporting by the national deployment; DESIGN.md: "a city
    may run all services or only some") still has intake's daily job, the appointment reminders of the next day. The
    chart rendered the scheduler only where housing runs: such a city had no scheduler, its appointments were never
    reminded, and nothing said so. It runs wherever a service with a daily job runs, from that service's image when
    the city builds one per service (an intake-only city builds no housing image), and calls only what runs."""
    values = tmp_path / "intake-only.yaml"
    values.write_text(yaml.safe_dump({
        "services": {
            "intake": {"image": {"repository": "registry.comune.genova.it/lgnet-intake", "tag": "2.1.0"}},
            **{name: {"enabled": False} for name in SERVICES if name != "intake"},
        },
    }))  # fmt: skip
    objects = render_over_torino("lgnet-torino", values)
    deployments = by_kind(objects, "Deployment")
    assert "lgnet-torino-scheduler" in deployments, f"no scheduler among {sorted(deployments)}"
    container = pod_of(deployments["lgnet-torino-scheduler"])["containers"][0]
    assert container["image"] == "registry.comune.genova.it/lgnet-intake:2.1.0"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LGNET_INTAKE_URL"] == "http://lgnet-torino-intake:8001"
    assert "LGNET_HOUSING_URL" not in env and "LGNET_PAYMENTS_URL" not in env
    policies = by_kind(objects, "NetworkPolicy")
    assert {p["port"] for rule in policies["lgnet-torino-scheduler"]["spec"]["egress"] for p in rule["ports"]} == {8001}
    admitted = policies["lgnet-torino-services"]["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "lgnet-scheduler",
            "app.kubernetes.io/instance": "lgnet-torino"}}} in admitted  # fmt: skip
    for s in ("lgnet-torino-housing", "lgnet-torino-payments", "lgnet-torino-reporting"):
        assert s not in deployments


@pytest.mark.parametrize("running", [["intake", "housing"], ["intake"]])
def test_the_desk_of_a_city_running_only_some_services_shows_only_those(tmp_path: Path, running: list[str]) -> None:
    """A city without payments (its own accounting pays) had a desk showing "Pagamenti" and "Approvazioni", their
    pages a 503 for ever, and calling payments at every person's record. The desk is told what the city runs
    (LGNET_DESK_SERVICES, from `services.<name>.enabled`) and given the address of those only."""
    values = tmp_path / "partial.yaml"
    values.write_text(yaml.safe_dump({"services": {name: {"enabled": False} for name in SERVICES
                                                   if name not in running and name != "reporting"}}))  # fmt: skip
    objects = render_over_torino("lgnet-genova", values)
    container = pod_of(by_kind(objects, "Deployment")["lgnet-genova-desk"])["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env.get("LGNET_DESK_SERVICES") == ",".join(running), env
    urls = sorted(k for k in env if k.endswith("_URL") and k.startswith("LGNET_"))
    assert urls == sorted(f"LGNET_{s.upper()}_URL" for s in running), urls
