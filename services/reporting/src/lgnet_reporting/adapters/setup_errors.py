"""Why a command could not run: a setting that is wrong or an environment that is broken, said in one line that
names the setting and what failed — never a traceback. The auditors' replay prints it as its summary's `error` and
exits 2, as `lgnet-audit` does for "broker unreachable" (docs/reporting.md). The generic ones are in
lgnet_shared.setup_errors, which the services' start uses too.
"""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import Iterable, Iterator
from typing import NoReturn

from lgnet_shared import setup_errors as shared
from lgnet_shared.setup_errors import SetupError, _principal, database_url, kafka

__all__ = ["CommandLine", "SetupError", "database", "database_url", "kafka", "not_authorised"]


def not_authorised(topics: Iterable[str]) -> SetupError:
    """The principal may not read these topics (no ACL): nothing to wait for, it will not change during the run."""
    return SetupError(
        f"{_principal()}: not authorised to read {', '.join(sorted(topics))}: use the auditor principal"
        " (the file `lgnet-kafka-admin add-auditor` wrote)"
    )


@contextlib.contextmanager
def database(url: str) -> Iterator[None]:
    """Connecting to DATABASE_URL (or creating what the command needs there) failed: said as such."""
    with shared.database(url, needs="the replay creates and drops a schema there"):
        yield


class CommandLine(argparse.ArgumentParser):
    """The auditors' tools' arguments: a bad one is a SetupError (the one line such a command prints, exit 2), naming
    the option and what it takes; argparse printed its usage on stderr and nothing on stdout."""

    WHAT = {"fromisoformat": "a date (YYYY-MM-DD)", "int": "a whole number", "float": "a number"}

    def error(self, message: str) -> NoReturn:
        if bad := re.fullmatch(r"argument (\S+): invalid (\S+) value: '(.*)'", message):
            option, kind, value = bad.groups()
            raise SetupError(f"{option} {value}: not {self.WHAT.get(kind, 'a valid value')}")
        if unknown := re.fullmatch(r"unrecognized arguments: (.*)", message):
            raise SetupError(f"{unknown.group(1)}: not an option of {self.prog.split()[0]} (--help lists them)")
        raise SetupError(message)
