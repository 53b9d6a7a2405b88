"""Service processes for tests, forked from an interpreter that has already imported the services.

A service process spends 1.5 to 2 s of CPU importing FastAPI, FastStream, pydantic models and the rest before its
`main()` runs, and the test suite starts ≈ 200-260 of them (one per intake test, a platform per e2e module, every
restart of the crash test); forking them took a fifth off the suite's time (docs/benchmarks-history.md, "Eighth pass").
The fork server imports the four services once per test process; each service process is then a `fork()` of it that
takes its own environment, log file and `python -m <module>` entry point, and runs `main()` as `python -m` would. It
is a real OS process as before: its own pid, killed with SIGKILL, restarted from nothing but the same imports.

What is not shared: the environment (replaced before `main()` reads any setting), open files (0, 1 and 2 are
/dev/null and the log file), SIGCHLD's disposition (reset), random state (`random` reseeds at fork; keys come from
the OS, and forked children were checked to draw different uuid7 bits). The server only imports: it runs no event
loop, and refuses to fork if the imports started a thread. `LGNET_TEST_FORKSERVER=0` turns it off (every process
spawned from scratch, as `make up` and the benches do).
"""

from __future__ import annotations

import json
import os
import runpy
import select
import signal
import subprocess
import sys
import threading
from typing import IO, Any

PRELOADED = (
    "lgnet_intake.entrypoints.main",
    "lgnet_housing.entrypoints.main",
    "lgnet_payments.entrypoints.main",
    "lgnet_reporting.entrypoints.main",
)
# What a service imports only once it runs, so that every child would import it again: FastAPI's check for pydantic
# v1 models and uvicorn's protocols as the app and server are built, the key derivation, reporting's replay, audit,
# log reader and PDF (its publish and checks). shared/tests/test_forkserver.py checks the first ones.
IMPORTED_WHEN_RUNNING = (
    "pydantic.v1",
    "uvicorn.lifespan.on",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
    "cryptography.hazmat.primitives.kdf.hkdf",
    "lgnet_reporting.service_layer.replay",
    "lgnet_reporting.service_layer.audit",
    "lgnet_reporting.adapters.log",
    "lgnet_reporting.adapters.pdf_document",
)
ENABLED_VAR = "LGNET_TEST_FORKSERVER"


def preloaded_module(command: list[str]) -> str | None:
    """The module of a `[python, -m, module]` command the fork server can run, else None."""
    if os.environ.get(ENABLED_VAR, "1") == "0":
        return None
    if len(command) == 3 and command[0] == sys.executable and command[1] == "-m" and command[2] in PRELOADED:
        return command[2]
    return None


class ForkedProcess:
    """The part of `subprocess.Popen` tests use, for a process that is the fork server's child, not ours: its end
    is seen through a pidfd (the server reaps it, so the exit status itself is not known: -1 once it has ended)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._fd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:  # already ended and reaped
            self._fd, self.returncode = None, -1

    def poll(self) -> int | None:
        return self.returncode if self._fd is None else self._wait(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self.returncode if self._fd is None else self._wait(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
        return code

    def _wait(self, timeout: float | None) -> int | None:
        assert self._fd is not None
        if select.select([self._fd], [], [], timeout)[0]:
            os.close(self._fd)
            self._fd, self.returncode = None, -1
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self._fd is not None:
            signal.pidfd_send_signal(self._fd, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The client: one server per test process, started at the first request."""

    _lock = threading.Lock()
    _server: subprocess.Popen[str] | None = None

    @classmethod
    def spawn(cls, module: str, env: dict[str, str], log_path: str) -> ForkedProcess:
        with cls._lock:
            if cls._server is None or cls._server.poll() is not None:
                cls._server = subprocess.Popen(
                    [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
            server = cls._server
            assert server.stdin is not None and server.stdout is not None
            server.stdin.write(json.dumps({"module": module, "env": env, "log": log_path}) + "\n")
            server.stdin.flush()
            answer = server.stdout.readline()
        if not answer:
            raise RuntimeError(f"the fork server ended (exit {server.wait()}) before starting {module}")
        reply = json.loads(answer)
        if "error" in reply:
            raise RuntimeError(f"the fork server cannot start {module}: {reply['error']}")
        return ForkedProcess(int(reply["pid"]))


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become `python -m <module>` with the request's environment and log file."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, min(os.sysconf("SC_OPEN_MAX"), 65536))  # the server's pipes and whatever else it had
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.environ.clear()
        os.environ.update(request["env"])
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:  # as the interpreter ends on it: a message to stderr and 1, a number as it is
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def preload() -> None:
    """What the server imports before it forks."""
    import importlib

    for module in (*PRELOADED, *IMPORTED_WHEN_RUNNING):
        importlib.import_module(module)
    import pycountry

    # pycountry reads its JSON databases on first use: once here, not in each child that checks a nationality.
    pycountry.countries.get(alpha_2="IT")
    pycountry.languages.get(alpha_2="it")
    from lgnet_shared.testing import schema_pool

    schema_pool.install()  # a service process migrating a test's empty schema takes a kept one


def _serve(requests: IO[str], answers: IO[str]) -> None:
    import gc

    preload()
    if threading.active_count() != 1:  # a thread would be forked half-way through whatever it was doing
        raise SystemExit(f"fork server: {threading.active_count()} threads after the imports, refusing to fork")
    gc.collect()
    gc.freeze()  # the imported heap stays shared between the children instead of being copied by the collector
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel; clients watch pidfds
    for line in requests:
        request = json.loads(line)
        try:
            pid = os.fork()
        except OSError as exc:
            answers.write(json.dumps({"error": str(exc)}) + "\n")
            answers.flush()
            continue
        if pid == 0:
            _child(request)
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()


def main() -> None:
    # The protocol keeps the original stdout; what the imports might print goes to stderr instead.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    _serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
