"""The HTTP server of a service, the desk and the scheduler: its address taken before anything else starts.

uvicorn binds its socket only after the application's start-up, so a port already in use (another service's) let a
service run its migrations, claim its deployment name, make its topics and register its signing key on the log for
good, and then end on uvicorn's "[Errno 98] error while attempting to bind …", which names no setting, followed by
a traceback. Binding first turns that into one line naming LGNET_HTTP_PORT (or LGNET_HTTP_HOST), before any of it."""

from __future__ import annotations

import errno
import socket
import sys
from typing import Any

from lgnet_shared.config import ConfigError


class Unbindable(ValueError):
    """The HTTP address cannot be listened on: `str()` names the setting and why."""


def bound(host: str, port: int, host_var: str = "LGNET_HTTP_HOST", port_var: str = "LGNET_HTTP_PORT") -> socket.socket:
    """A socket bound to `host`:`port` for uvicorn to serve on; else Unbindable naming the setting and why."""
    # The family as uvicorn chooses it (a name such as `localhost` binds its IPv4 address, never ::1 alone).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart reuses its port at once
    try:
        sock.bind((host, port))
    except (socket.gaierror, UnicodeError) as exc:
        sock.close()
        raise Unbindable(f"{host_var}: {host!r} is not an address this host can listen on ({exc})") from None
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Unbindable(f"{port_var}: {host}:{port} is in use (another process listens there)") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise Unbindable(f"{host_var}: {host} is not an address of this host") from None
        if exc.errno == errno.EACCES:
            raise Unbindable(f"{port_var}: {host}:{port}: not permitted (a port below 1024 needs privileges)") from None
        raise Unbindable(f"{host_var} / {port_var}: {host}:{port}: {exc.strerror}") from None
    return sock


def listening_socket(host: str, port: int, prefix: str = "") -> socket.socket:
    """`bound`, or exit as an invalid configuration does (`prefix`: the command's name, as its other errors say)."""
    try:
        return bound(host, port)
    except Unbindable as exc:
        raise ConfigError(f"{prefix}invalid configuration:\n  {exc}") from None


def serve_on(sock: socket.socket, app: Any, **options: Any) -> None:
    """uvicorn.run(app, **options) on `sock` (`listening_socket`); exit status 3 when the application's start-up
    fails, as uvicorn.run."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **options))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(3)


def serve(app: Any, host: str, port: int, prefix: str = "", **options: Any) -> None:
    """`serve_on` a socket bound to `host`:`port` first (`prefix`: the command's name, as its other errors say)."""
    serve_on(listening_socket(host, port, prefix), app, **options)
