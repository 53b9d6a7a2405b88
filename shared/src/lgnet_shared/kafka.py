"""How every LgNet Kafka client connects: security settings in Kafka's own names, read once, used everywhere.

    KAFKA_SECURITY_PROTOCOL   PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL   (default PLAINTEXT, Kafka's own)
    KAFKA_SASL_MECHANISM      SCRAM-SHA-512 (default when a username is set) | SCRAM-SHA-256 | PLAIN
    KAFKA_SASL_USERNAME       the principal's name, e.g. service.torino.intake or partner.coop-aurora
    KAFKA_SASL_PASSWORD       its password (lgnet-kafka-admin prints it once)
    KAFKA_SSL_CAFILE          PEM file of the CA that signed the brokers' certificates (default: system CAs)

`client_kwargs(bootstrap)` gives the keyword arguments of any aiokafka client (producer, consumer, admin);
`KafkaSecurity.faststream()` the security object of a FastStream `KafkaBroker`. The local broker
(deploy/local/infra.py) listens only with SASL_SSL; `make` sources the admin's settings from .local/infra.env.
Part of the core package (no pydantic-settings): the partner SDK uses it too.
"""

from __future__ import annotations

import contextlib
import functools
import os
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import AuthenticationFailedError, KafkaConnectionError, SaslAuthenticationFailed
from aiokafka.structs import TopicPartition
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

# Field → environment variable (Kafka's client property names, upper-cased, dots as underscores).
ENV = {
    "security_protocol": "KAFKA_SECURITY_PROTOCOL",
    "sasl_mechanism": "KAFKA_SASL_MECHANISM",
    "sasl_username": "KAFKA_SASL_USERNAME",
    "sasl_password": "KAFKA_SASL_PASSWORD",
    "ssl_cafile": "KAFKA_SSL_CAFILE",
}


class KafkaConfigError(ValueError):
    """Security settings that cannot work; the message names the variable(s) and the reason."""


@functools.lru_cache(maxsize=8)
def _broker_context(cafile: str | None, _version: tuple[int, int, int]) -> ssl.SSLContext:
    """Loading a CA bundle costs 0.3 ms for the project's CA and 20 ms for the system's, for every client a process
    makes; an SSLContext is meant to be shared. `_version` (the file's mtime, size, inode) makes a CA file replaced
    or rewritten in place — a rotation — load afresh for the clients made after it."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class KafkaSecurity(BaseModel):
    """A client's security settings. `KafkaSecurity.from_env()` reads the KAFKA_* variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    security_protocol: Protocol = "PLAINTEXT"
    sasl_mechanism: Mechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and not (self.sasl_username and self.sasl_password and self.sasl_password.get_secret_value()):
            raise ValueError(f"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with {self.security_protocol}")
        if not sasl and (self.sasl_username or self.sasl_mechanism):
            raise ValueError(
                f"KAFKA_SASL_USERNAME/KAFKA_SASL_MECHANISM are set but KAFKA_SECURITY_PROTOCOL is "
                f"{self.security_protocol}: use SASL_SSL"
            )
        if self.ssl_cafile is not None:
            if not self.security_protocol.endswith("SSL"):
                raise ValueError(f"KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL is {self.security_protocol}")
            if not self.ssl_cafile.is_file():
                raise ValueError(f"KAFKA_SSL_CAFILE: no such file {self.ssl_cafile}")
        if sasl and self.sasl_mechanism is None:
            object.__setattr__(self, "sasl_mechanism", "SCRAM-SHA-512")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        """The KAFKA_* variables (empty ones count as unset); raises KafkaConfigError naming the variable."""
        env = os.environ if env is None else env
        values = {field: env[var] for field, var in ENV.items() if env.get(var)}
        if "security_protocol" in values:
            values["security_protocol"] = values["security_protocol"].upper()
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise KafkaConfigError(describe(exc)) from None

    @property
    def tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """Verifies the broker's certificate and host name against the CA file (or the system's CAs). One context
        per version of the CA file, shared by the process's clients (`_broker_context`)."""
        if not self.tls:
            return None
        cafile = str(self.ssl_cafile) if self.ssl_cafile else None
        try:  # the system's bundle (SSL_CERT_FILE or OpenSSL's) when no CA file is set
            stat = os.stat(cafile or ssl.get_default_verify_paths().cafile or "")
            version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:  # the system's CAs in a directory only: loaded once per process
            version = (0, 0, 0)
        return _broker_context(cafile, version)

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient (and fewer, cheaper
        connections for every aiokafka client of the process: lgnet_shared.kafka_connections)."""
        from lgnet_shared import kafka_connections  # aiokafka is imported by whoever makes the client anyway

        kafka_connections.install()
        kwargs: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.tls:
            kwargs["ssl_context"] = self.ssl_context()
        if self.security_protocol.startswith("SASL_"):
            assert self.sasl_password is not None
            kwargs |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password.get_secret_value(),
            }
        return kwargs

    def faststream(self) -> BaseSecurity | None:
        """The security object of a FastStream KafkaBroker (None for PLAINTEXT)."""
        from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

        from lgnet_shared import kafka_connections

        kafka_connections.install()
        ctx = self.ssl_context()
        if not self.security_protocol.startswith("SASL_"):
            return BaseSecurity(ssl_context=ctx) if ctx else None
        assert self.sasl_username is not None and self.sasl_password is not None
        cls = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}[
            self.sasl_mechanism or "SCRAM-SHA-512"
        ]
        return cls(
            username=self.sasl_username,
            password=self.sasl_password.get_secret_value(),
            ssl_context=ctx,
            use_ssl=self.tls,
        )

    def env(self) -> dict[str, str]:
        """The KAFKA_* variables that reproduce these settings (for a child process)."""
        out: dict[str, str] = {"KAFKA_SECURITY_PROTOCOL": self.security_protocol}
        if self.sasl_mechanism:
            out["KAFKA_SASL_MECHANISM"] = self.sasl_mechanism
        if self.sasl_username:
            out["KAFKA_SASL_USERNAME"] = self.sasl_username
        if self.sasl_password:
            out["KAFKA_SASL_PASSWORD"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile:
            out["KAFKA_SSL_CAFILE"] = str(self.ssl_cafile)
        return out


class KafkaLoginRefused(KafkaConnectionError):  # type: ignore[misc]  # aiokafka is untyped
    """The broker was reached and refused the SASL login: a wrong password or an unknown user. Not an unreachable
    broker, which aiokafka says in the same words ("Unable to bootstrap from [...]")."""


class KafkaUnreachable(KafkaConnectionError):  # type: ignore[misc]
    """No bootstrap address answered (a wrong address or port, the network, a TLS handshake that failed)."""


def refused_login(exc: BaseException) -> BaseException | None:
    """The broker's refusal of the login behind a client's failure to start, if that is what it was: aiokafka raises
    `KafkaConnectionError("Unable to bootstrap …")` for both, and `kafka_connections` keeps the last address's failure
    as its cause (SaslAuthenticationFailed for SCRAM, error code 58)."""
    return next(
        (
            e
            for e in (exc, exc.__cause__, exc.__context__)
            if isinstance(e, SaslAuthenticationFailed | AuthenticationFailedError)
        ),
        None,
    )


async def start_client(client: Any, bootstrap: str, username: str | None) -> None:
    """`client.start()` (an aiokafka producer, consumer or admin client), its failure to connect said for what it
    is (the partner SDK's words: docs/partners.md, "Connecting to Kafka"): `KafkaLoginRefused` naming the user and
    the settings to check, never the password, or `KafkaUnreachable` naming the bootstrap address. Both are
    `KafkaConnectionError`s, as before."""
    from lgnet_shared import kafka_connections  # keeps the failure's cause, for a client made without KafkaSecurity

    kafka_connections.install()
    try:
        await client.start()
    except KafkaConnectionError as exc:
        with contextlib.suppress(Exception):
            await (client.close() if hasattr(client, "close") else client.stop())
        if refused := refused_login(exc):
            raise KafkaLoginRefused(
                f"Kafka at {bootstrap} refused the credentials of {username!r}: a wrong password or an unknown user."
                " Check the username and password you connect with (your bundle's kafka.username and kafka.password,"
                " as KafkaSecurity's sasl_username and sasl_password or KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD);"
                f" a password the city rotated is refused at once: ask it for a new bundle. The broker said: {refused}"
            ) from exc
        cause = exc.__cause__ or exc
        raise KafkaUnreachable(
            f"cannot reach Kafka at {bootstrap} ({type(cause).__name__}: {cause}). Check bootstrap_servers (your"
            " bundle's kafka.bootstrap_servers, or KAFKA_BOOTSTRAP_SERVERS), that this machine reaches it, and the TLS"
            " settings (security_protocol, and ssl_cafile holding your bundle's kafka.ca_pem)"
        ) from exc


def describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = str(err["loc"][0]) if err["loc"] else ""
        var = ENV.get(loc, "KAFKA_* settings")
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(msg if not loc else f"{var}: {msg}")
    return "; ".join(lines)


# For a consumer that reads a few records and stops. With aiokafka's default `fetch_max_wait_ms` (500 ms: how long the
# broker holds a fetch when nothing new is there) such a reader's stop() took 0.45-0.50 s, with 50 ms 0.001 s
# (docs/benchmarks.md, twenty-seventh pass): half a second per admin command's read, per provisioning of a party, per
# test that reads a topic.
READ_AND_GO: Final[Mapping[str, Any]] = MappingProxyType({"fetch_max_wait_ms": 50})


def client_kwargs(bootstrap: str, security: KafkaSecurity | None = None) -> dict[str, Any]:
    """`bootstrap_servers` plus the security keyword arguments of any aiokafka client; without `security`,
    the KAFKA_* environment decides. Usage: `AIOKafkaProducer(**client_kwargs(bootstrap), acks="all")`."""
    sec = security if security is not None else KafkaSecurity.from_env()
    return {"bootstrap_servers": bootstrap, **sec.aiokafka()}


async def offset_bounds(
    kafka: dict[str, Any], partitions: Sequence[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Each partition's first retained offset and its end, read with a client of `kafka` (`client_kwargs`)."""
    consumer = AIOKafkaConsumer(**kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.beginning_offsets(partitions), await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


def unread_count(
    firsts: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int], read: Mapping[TopicPartition, int]
) -> int:
    """Records on the partitions of `ends` past what a reader has read (`read`: the next offset it would read, per
    partition); where it has read nothing, from the first record still retained (`firsts`)."""
    return sum(max(end - max(read.get(tp, 0), firsts[tp]), 0) for tp, end in ends.items())
