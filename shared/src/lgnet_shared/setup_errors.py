"""Why a program could not start or run: a setting that is wrong or an environment that is broken, said in one line
that names the setting and what failed — never a traceback. The services' start ("start refused",
`lgnet_shared.service`), the auditors' replay and `lgnet-audit` word these failures the same way.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import asyncpg
from aiokafka.errors import (
    AuthenticationFailedError,
    KafkaError,
    SaslAuthenticationFailed,
)

from lgnet_shared.kafka import KafkaConfigError


class SetupError(RuntimeError):
    """One line: which setting, what failed. A single string argument, so a worker process's raise reaches its
    coordinator intact."""


def _bootstrap(given: str | None = None) -> str:
    return f"KAFKA_BOOTSTRAP_SERVERS {given or os.environ.get('KAFKA_BOOTSTRAP_SERVERS', '')}"


def _principal() -> str:
    user = os.environ.get("KAFKA_SASL_USERNAME")
    return f"KAFKA_SASL_USERNAME {user}" if user else "this client (no KAFKA_SASL_USERNAME)"


def kafka(exc: BaseException, bootstrap: str | None = None) -> SetupError:
    """A Kafka client that could not start: its settings invalid, the login refused, TLS failed, or no broker.
    `bootstrap`: the servers it was given, when not KAFKA_BOOTSTRAP_SERVERS (a command's --bootstrap)."""
    if isinstance(exc, KafkaConfigError):
        return SetupError(str(exc))  # names the variable already
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, SaslAuthenticationFailed | AuthenticationFailedError):
        user = os.environ.get("KAFKA_SASL_USERNAME", "")
        return SetupError(
            f"{_bootstrap(bootstrap)}: the broker refused the credentials of {user!r} (KAFKA_SASL_USERNAME /"
            f" KAFKA_SASL_PASSWORD: a wrong password or an unknown user): {cause}"
        )
    if isinstance(cause, ssl.SSLError):
        return SetupError(
            f"{_bootstrap(bootstrap)}: TLS handshake failed (KAFKA_SSL_CAFILE, KAFKA_SECURITY_PROTOCOL): {cause}"
        )
    reason = cause if isinstance(cause, OSError | KafkaError | TimeoutError) and str(cause) else exc
    return SetupError(f"{_bootstrap(bootstrap)}: broker unreachable: {reason}")


def database_url(url: str) -> str:
    """DATABASE_URL as it may be printed: user, host, port and database, never a password."""
    from lgnet_shared.config import database_hosts

    try:
        parts = urlsplit(url)
        user = f"{parts.username}@" if parts.username else ""
        # every host of a primary and its standbys (`pg-a:5432,pg-b:5432`, which urlsplit's port cannot read)
        hosts = ",".join(f"{host}:{port}" if port else host for host, port in database_hosts(url))
        return f"DATABASE_URL {parts.scheme}://{user}{hosts}{parts.path}"
    except ValueError:
        return "DATABASE_URL (unparsable)"


@contextlib.contextmanager
def database(url: str, needs: str = "") -> Iterator[None]:
    """Connecting to DATABASE_URL (or creating what the program needs there) failed: said as such. `needs` says what
    a refused privilege was wanted for. A URL asyncpg cannot read (a port that is not a number) is said before any
    connection, naming DATABASE_URL (asyncpg's own words named nothing)."""
    from lgnet_shared.config import database_url_checked

    try:
        database_url_checked(url)
    except ValueError as exc:
        raise SetupError(f"DATABASE_URL: {exc}") from None
    where = database_url(url)
    try:
        yield
    except (OSError, TimeoutError) as exc:
        raise SetupError(f"{where}: database unreachable: {exc or type(exc).__name__}") from None
    except asyncpg.InvalidAuthorizationSpecificationError as exc:  # a wrong password, an unknown role
        raise SetupError(f"{where}: the database refused the login: {exc}") from None
    except asyncpg.InvalidCatalogNameError as exc:
        raise SetupError(f"{where}: {exc}") from None
    except asyncpg.InsufficientPrivilegeError as exc:
        raise SetupError(f"{where}: not allowed: {exc}{f' ({needs})' if needs else ''}") from None
    except (asyncpg.InterfaceError, asyncpg.ClientConfigurationError) as exc:
        raise SetupError(f"{where}: {exc}") from None
