"""Service configuration from the environment (pydantic-settings), validated at start-up.

A bad or missing setting stops the service before it touches Kafka or PostgreSQL, with a message naming the
variable and the reason (see `load`).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from lgnet_shared import variables
from lgnet_shared.cities import (
    CITIES,
    NATIONAL,
    PROGRAMME_VAR,
    SERVED_VAR,
    deployment_rule,
    legacy_deployments,
    outside_programme,
    programme_cities,
    served_cities,
)
from lgnet_shared.kafka import KafkaConfigError, KafkaSecurity
from lgnet_shared.pii import derive, parse_master_key

DEPLOYMENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# A schema name the services can quote in SQL and put unquoted in the connections' search_path, where PostgreSQL folds
# it to lower case: "Intake_North" was created (quoted) and then not found ("no schema has been selected to create
# in", a traceback), a '"' broke the SQL.
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,62}")
# Kafka's legal topic characters: a prefix with any other made every topic the service asked for unusable (named only
# as "not authorised" by the broker).
TOPIC_PREFIX = re.compile(r"[A-Za-z0-9._-]{0,100}")


# The port a server binds, LGNET_HTTP_PORT of the services, the desk and the scheduler: uvicorn took 99999 and listened
# on a port of the system's choosing.
Port = Annotated[int, Field(ge=1, le=65535)]


def deployment_of(env: Mapping[str, str] = os.environ) -> str:
    """The deployment's name as the shared settings read it (`Settings.deployment_name`): LGNET_DEPLOYMENT, else the
    city (default national). What the programs without the shared settings (the desk, the scheduler, the notary) put in
    their log lines and metrics."""
    return env.get("LGNET_DEPLOYMENT") or env.get("LGNET_CITY", "national")


def city_named(v: str) -> str:
    """LGNET_CITY as every program reads it: one of the 16 cities or `national`, any case."""
    v = v.strip().lower()
    if v not in (*CITIES, NATIONAL):
        raise ValueError(f"must be one of {', '.join(CITIES)} or {NATIONAL}")
    return v


def deployment_named(v: str | None, city: str | None) -> str | None:
    """LGNET_DEPLOYMENT as every program reads it (None: unset, the city's name is the deployment's); `city` None when
    LGNET_CITY itself is wrong, which is named on its own."""
    if v is None or v == "":
        return None
    if not DEPLOYMENT_NAME.fullmatch(v):
        raise ValueError("must be 1-40 lower-case letters, digits, '-' or '_', starting with a letter or digit")
    # Consumers read a deployment's city off its name (its signing key's, lgnet_shared.fact_signing).
    if city is not None and (why := deployment_rule(v, city)):
        raise ValueError(f"{why} (LGNET_CITY)")
    return v


class Settings(BaseSettings):
    """Every variable a service reads. Names are LGNET_<FIELD> unless an alias is shown."""

    model_config = SettingsConfigDict(env_prefix="LGNET_", extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "LGNET_KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers, host:port[,host:port]",
    )
    database_url: SecretStr = Field(
        validation_alias=AliasChoices("DATABASE_URL", "LGNET_DATABASE_URL"),
        description="PostgreSQL URL, postgresql://user:password@host:port/database",
    )
    # How the service's Kafka clients connect (lgnet_shared.kafka): Kafka's own names, no LGNET_ prefix.
    kafka_security_protocol: str = Field(
        default="PLAINTEXT",
        validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL", "LGNET_KAFKA_SECURITY_PROTOCOL"),
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (the local broker: SASL_SSL)",
    )
    kafka_sasl_mechanism: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SASL_MECHANISM", "LGNET_KAFKA_SASL_MECHANISM"),
        description="SCRAM-SHA-512 (default with SASL), SCRAM-SHA-256 or PLAIN",
    )
    kafka_sasl_username: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SASL_USERNAME", "LGNET_KAFKA_SASL_USERNAME"),
        description="This deployment's principal, service.<deployment>.<service> (lgnet-kafka-admin add-deployment)",
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SASL_PASSWORD", "LGNET_KAFKA_SASL_PASSWORD"),
        description="Its password",
    )
    kafka_ssl_cafile: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_CAFILE", "LGNET_KAFKA_SSL_CAFILE"),
        description="PEM file of the CA that signed the brokers' certificates (default: the system's CAs)",
    )
    city: str = Field(description="City this deployment serves (one of the 16), or 'national'")
    deployment: str | None = Field(
        default=None,
        description="Name of this deployment on a shared cluster (default: the city). Consumer groups, dead"
        " letters, metrics and logs carry it; two deployments serving one city need different names. The city or"
        " the city, '-' and a suffix (torino, torino-north): consumers read a deployment's city off its name",
    )
    take_over_deployment: str | None = Field(
        default=None,
        description="This deployment's name, to start a new schema in place of the one its service ran on (lost, or"
        " rebuilt): its consumer groups are rewound and the log read again. Without it such a start is refused (a"
        " second deployment of one name); inert once the schema has processed anything. See docs/operators.md",
    )
    legacy_deployments: str = Field(
        default="",
        description="Deployments named before a name said its city, with their cities (north=torino,test=national):"
        " their signing keys are then read as that city's. The same on every deployment and for auditors; see"
        " docs/operators.md",
    )
    programme_cities: str = Field(
        default="",
        description="The cities taking part on this cluster, comma-separated (default: all 16): a national"
        " deployment reads these cities' partners' inbound topics only, and a deployment of another city does not"
        " start. The same on every deployment and for lgnet-kafka-admin; see docs/operators.md",
    )
    served_cities: str = Field(
        default="",
        description="A national deployment of intake, housing or payments: the cities it runs the service for,"
        " comma-separated (default: every city taking part). Leave out a city that runs its own deployment of the"
        " service: this one then skips its records and refuses its parties; see docs/operators.md",
    )
    master_key: SecretStr = Field(description="Base64 of 32 random bytes; wraps the per-person keys")
    signing_key: SecretStr | None = Field(
        default=None,
        description="Base64 of the 32-byte Ed25519 seed this deployment's service signs its facts with (default:"
        " derived from the master key, so each deployment's service has its own); see docs/operators.md",
    )
    fact_signatures: Literal["required", "off"] = Field(
        default="required",
        description="required: consumers accept only facts signed by a registered key of a deployment that may"
        " write the topic (others are dead-lettered); off: no check (a log written before signatures)",
    )
    db_schema: str | None = Field(default=None, description="PostgreSQL schema; default: the service name")
    topic_prefix: str = Field(default="", description="Prefix of every topic name (shared clusters, tests)")
    topic_replication: int = Field(default=1, ge=1, description="Replication factor of topics created")
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP server binds")
    http_port: Port | None = Field(default=None, description="HTTP port; default per service")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    consumer_stuck_after_s: float = Field(
        default=120,
        gt=0,
        description="Seconds a consumer may wait on one offset, or the outbox relay fail to publish, before"
        " /health/ready reports it stuck",
    )
    consumer_fetch_min_bytes: int = Field(
        default=64 * 1024,
        ge=1,
        description="Bytes the broker gathers before it answers a consumer's fetch (or fetch_max_wait_ms passes)",
    )
    consumer_fetch_max_wait_ms: int = Field(
        default=10,
        ge=1,
        le=30_000,
        description="The longest the broker holds a busy consumer's fetch: the most a record waits for others to"
        " gather with it before its consumer sees it",
    )
    consumer_idle_fetch_max_wait_ms: int = Field(
        default=500,
        ge=0,
        le=30_000,
        description="After a fetch that brought nothing, the consumer asks with 1 byte and this wait instead: the"
        " broker answers as soon as a record arrives, and an idle consumer asks twice a second rather than every"
        " consumer_fetch_max_wait_ms (0: always ask as busy)",
    )
    consumer_commit_interval_ms: int = Field(
        default=1000,
        ge=0,
        le=60_000,
        description="The most often a consumer commits its offsets to Kafka (a cache of the positions each batch"
        " saves in PostgreSQL with its effects): a batch after a quiet spell is committed at once, later ones"
        " together when the interval has passed, revoked partitions before they go, all at a stop (0: after"
        " every batch)",
    )
    traces_exporter: Literal["none", "console", "otlp"] = Field(
        default="none",
        validation_alias=AliasChoices("OTEL_TRACES_EXPORTER", "LGNET_TRACES_EXPORTER"),
        description="Where spans go: none (context still propagates, spans are not recorded), console, or otlp"
        " (OTEL_EXPORTER_OTLP_ENDPOINT etc.; sampling by OTEL_TRACES_SAMPLER)",
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _hosts(cls, v: str) -> str:
        if not all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]:]+:\d+", h.strip()) for h in v.split(",")):
            raise ValueError("must be host:port[,host:port]")
        return v

    @field_validator("database_url")
    @classmethod
    def _pg(cls, v: SecretStr) -> SecretStr:
        database_url_checked(v.get_secret_value())
        return v

    @field_validator("city")
    @classmethod
    def _city(cls, v: str) -> str:
        return city_named(v)

    @field_validator("deployment")
    @classmethod
    def _deployment(cls, v: str | None, info: ValidationInfo) -> str | None:
        return deployment_named(v, info.data.get("city"))

    @field_validator("db_schema")
    @classmethod
    def _schema(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not SCHEMA_NAME.fullmatch(v):
            raise ValueError(
                "must be 1-63 lower-case letters, digits, '_' or '-', starting with a letter or '_'"
                " (PostgreSQL folds the connections' search_path to lower case)"
            )
        return v

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not TOPIC_PREFIX.fullmatch(v):
            raise ValueError("must be at most 100 of the characters Kafka allows in a topic name: A-Z a-z 0-9 . _ -")
        return v

    @field_validator("legacy_deployments")
    @classmethod
    def _legacy(cls, v: str) -> str:
        legacy_deployments(v)
        return v

    @field_validator("master_key")
    @classmethod
    def _key(cls, v: SecretStr) -> SecretStr:
        parse_master_key(v.get_secret_value())
        return v

    @field_validator("signing_key")
    @classmethod
    def _seed(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and v.get_secret_value():
            parse_master_key(v.get_secret_value())  # same shape: base64 of 32 bytes
        return v or None

    @field_validator("programme_cities")
    @classmethod
    def _programme_list(cls, v: str) -> str:
        try:  # a bad list is said with the other variables' errors, not once they are fixed
            programme_cities(v)
        except ValueError as exc:
            raise ValueError(str(exc).removeprefix(f"{PROGRAMME_VAR}: ")) from None
        return v

    @model_validator(mode="after")
    def _kafka(self) -> Settings:
        self.kafka_security()
        return self

    @model_validator(mode="after")
    def _programme(self) -> Settings:
        if why := outside_programme(self.city, self.programme_cities):
            raise ValueError(f"LGNET_CITY: {why}")
        return self

    @model_validator(mode="after")
    def _served(self) -> Settings:
        if not self.served_cities.strip():
            return self
        if self.city != NATIONAL:
            raise ValueError(f"{SERVED_VAR}: a deployment of {self.city} serves its own city only; unset it")
        try:
            served_cities(self.served_cities)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return self

    def kafka_security(self) -> KafkaSecurity:
        """The Kafka clients' security settings; ValueError naming the KAFKA_* variable when inconsistent."""
        password = self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
        env = {
            "KAFKA_SECURITY_PROTOCOL": self.kafka_security_protocol,
            "KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
            "KAFKA_SASL_USERNAME": self.kafka_sasl_username,
            "KAFKA_SASL_PASSWORD": password,
            "KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
        }
        try:
            return KafkaSecurity.from_env({k: v for k, v in env.items() if v})
        except KafkaConfigError as exc:
            raise ValueError(str(exc)) from None

    @property
    def deployment_name(self) -> str:
        """The deployment's name: LGNET_DEPLOYMENT, else the city (`torino`, `national`)."""
        return self.deployment or self.city

    def consumer_group(self, service: str, consumer: str) -> str:
        """Kafka consumer group of one of this deployment's consumers: `<prefix><deployment>.<service>.<consumer>`.
        Two deployments of one service on a shared cluster never share a group, so each gets all its events."""
        return f"{self.topic_prefix}{self.deployment_name}.{service}.{consumer}"

    @property
    def city_filter(self) -> str | None:
        """None for a national deployment (every city's events), else the city."""
        return None if self.city == NATIONAL else self.city

    @property
    def cities_served(self) -> tuple[str, ...]:
        """The cities whose records and parties this deployment serves: its own city; a national deployment's
        LGNET_SERVED_CITIES (default: every city taking part)."""
        return served_cities(self.served_cities) if self.city == NATIONAL else (self.city,)

    @property
    def leaves_out(self) -> frozenset[str] | None:
        """The programme's cities a national deployment does not serve (LGNET_SERVED_CITIES), None when it serves
        them all (or for a city's deployment, whose filter is `city_filter`)."""
        if self.city != NATIONAL or not self.served_cities.strip():
            return None
        return frozenset(CITIES) - frozenset(self.cities_served)

    def master_key_bytes(self) -> bytes:
        return parse_master_key(self.master_key.get_secret_value())

    def signing_seed(self, service: str) -> bytes:
        """The Ed25519 seed of this deployment's `service`: LGNET_SIGNING_KEY, else derived from the master key
        (each deployment and service its own, stable across restarts)."""
        if self.signing_key is not None:
            return parse_master_key(self.signing_key.get_secret_value())
        return derive(self.master_key_bytes(), f"fact-signing:{self.deployment_name}.{service}")


def database_hosts(url: str) -> list[tuple[str, str]]:
    """The (host, port) pairs of a PostgreSQL URL, as asyncpg reads them (`host[:port][,host[:port]…]`, an IPv6
    address in brackets; port "" when not given); ValueError saying which is wrong, never the password."""
    netloc = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]  # urlsplit refuses a broken IPv6 host itself
    hosts = netloc.rpartition("@")[2]
    found = []
    for spec in hosts.split(",") if hosts else []:
        if spec.startswith("["):
            host, bracket, rest = spec[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"host {spec!r}: an IPv6 address needs its closing ']'")
            port = rest[1:]
            host = f"[{host}]"
        else:
            host, _, port = spec.partition(":")
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            # the port's text not quoted: a password with an unencoded '/' ends the host part inside the password
            raise ValueError(f"host {host}: its port is not a number from 1 to 65535")
        found.append((host, port))
    return found


def database_url_checked(url: str) -> str:
    """DATABASE_URL, once asyncpg can read it: a port that is not a number, or a broken IPv6 host, was a traceback of
    asyncpg's at start (and not named beside an unreachable broker)."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("must start with postgresql://")
    database_hosts(url)
    return url


class ConfigError(SystemExit):
    pass


def variable(field: str, settings: type[BaseSettings] | None = None) -> str:
    """The environment variable a setting is read from: its first alias (Kafka's, OpenTelemetry's and the database's
    own names), else LGNET_<FIELD>. An error located at an alias is already one."""
    if field.isupper():
        return field
    info = (settings or Settings).model_fields.get(field)
    alias = (info.validation_alias or info.alias) if info is not None else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return alias if isinstance(alias, str) else f"LGNET_{field.upper()}"


@dataclass(frozen=True)
class Variable:
    """A service's own setting (read by its `settings` module, not by `Settings`), as `--help` lists it. `default`
    None: optional, nothing when unset."""

    name: str
    default: str | None
    description: str
    # Reads the variable as the service will, raising ConfigError or ValueError for a bad value: run at start, so a
    # bad value stops the service before it connects rather than failing later (a 500 on every report).
    check: Callable[[], object] | None = None


def check_own(variables: Sequence[Variable]) -> None:
    """A service's own variables read once at start: exit with one line per bad one, as `load` does."""
    lines = []
    for v in variables:
        if v.check is None:
            continue
        try:
            v.check()
        except ConfigError as exc:
            lines += str(exc.code).splitlines()[1:]  # its own "invalid configuration:" heading dropped
        except ValueError as exc:
            lines.append(f"  {v.name}: {exc}")
    if lines:
        raise ConfigError("invalid configuration:\n" + "\n".join(lines))


def check_principal(settings: Settings, service: str) -> None:
    """A deployment's service logs in as `service.<deployment>.<service>` (`lgnet-kafka-admin add-deployment`). Another
    deployment's or service's credentials — or an LGNET_CITY / LGNET_DEPLOYMENT other than the ones they were
    provisioned for — are named here, before anything connects: the broker refused the topics one by one instead."""
    user = settings.kafka_sasl_username or ""
    expected = f"service.{settings.deployment_name}.{service}"
    if user.startswith("service.") and user != expected:
        raise ConfigError(
            f"invalid configuration:\n  KAFKA_SASL_USERNAME: {user} is not the principal of this deployment's {service}"
            f" ({expected}: LGNET_DEPLOYMENT, else LGNET_CITY, is {settings.deployment_name!r}); use that principal's"
            " credentials, or the LGNET_CITY and LGNET_DEPLOYMENT these were provisioned for"
        )


def usage(prog: str, own: Sequence[Variable] = (), settings: type[BaseSettings] | None = None) -> str:
    """`<command> --help`: a service (the shared `Settings`, then its own variables), the desk or the scheduler (their
    settings class) reads its configuration from the environment only; these are the variables."""
    lines = [f"usage: {prog}  (configured by environment variables; serves until stopped)", ""]
    cls = settings or Settings
    for field, info in cls.model_fields.items():
        value = info.get_default(call_default_factory=True)
        default = (
            "required" if info.is_required() else f"default {value!r}" if isinstance(value, str) else f"default {value}"
        )
        lines.append(f"  {variable(field, cls)}  ({default})")
        if info.description:
            lines.append(f"      {info.description}")
    if own:
        lines += ["", f"{prog}'s own:"]
    for v in own:
        lines += [
            f"  {v.name}  ({'optional' if v.default is None else f'default {v.default!r}'})",
            f"      {v.description}",
        ]
    return "\n".join(lines)


S = TypeVar("S", bound=BaseSettings)


def load_as(settings: type[S]) -> S:
    """`settings` from the environment, or exit with one line per bad variable. An LGNET_* name no command reads (a
    typo: the setting it meant keeps its default) is said on stderr, once per process."""
    _say_unknown_variables()
    try:
        return settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            # A check across several names has no location. A missing aliased setting is located at its first alias
            # ("KAFKA_BOOTSTRAP_SERVERS"), which was named "LGNET_KAFKA_BOOTSTRAP_SERVERS", a name the docs never use.
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"  {variable(name, settings)}: {msg}" if name else f"  {msg}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None


@functools.cache
def _say_unknown_variables() -> None:
    for line in variables.unknown(os.environ):
        print(f"warning: {line}", file=sys.stderr)


def load() -> Settings:
    """A service's shared settings from the environment, or exit with one line per bad variable."""
    return load_as(Settings)


def of_command(prog: str, settings: type[S], check: Callable[[S], object] = lambda _: None) -> S | None:
    """The settings of a command configured by the environment only (the desk, the scheduler): None once `--help`
    has listed its variables, else the settings that `check` accepts, or exit naming each variable at fault."""
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(usage(prog, settings=settings))
        return None
    try:
        loaded = load_as(settings)
        check(loaded)
    except ConfigError as exc:
        raise ConfigError(f"{prog}: {exc.code}") from None
    except (ValueError, OSError) as exc:  # the settings' own checks, which name their variable
        raise ConfigError(f"{prog}: invalid configuration:\n  {exc}") from None
    return loaded
