"""A headless browser for the page tests (dashboard, desk): Debian's Chromium headless shell at
/usr/bin/chromium-headless-shell.

`python deploy/local/browser.py ensure` installs it when it is missing and we run as root on Debian
(`apt-get update` once, then `apt-get install -y chromium-headless-shell`); otherwise it says what to do.
Idempotent: when it is there it only prints its path. `status` prints whether it is there (exit 1 if not).
Playwright drives it with `executable_path` — no browser download from the internet.

Why the headless shell and not the whole browser (Debian's `chromium`): it is the same Blink and V8 without the
browser's user interface, which is what Playwright itself launches for headless runs; the desk's browser tests
spent 43 CPU-seconds in `chromium` and 19 in the shell for the same pages and checks (docs/benchmarks.md,
"Twenty-ninth pass"), and the suite is bound by its CPU. `LGNET_CHROMIUM` points the tests at another binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium-headless-shell")
PACKAGE = "chromium-headless-shell"
STAMP = Path(__file__).resolve().parents[2] / ".local" / "apt-updated"  # apt-get update only once per machine


def _say(text: str) -> None:
    print(f"browser: {text}", flush=True)


def present() -> bool:
    return CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)


def _debian() -> bool:
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def ensure() -> int:
    if present():
        _say(f"{PACKAGE} present at {CHROMIUM}")
        return 0
    if not _debian() or os.geteuid() != 0:
        _say(
            f"{CHROMIUM} is missing. Install Debian's {PACKAGE} package as root (`apt-get install -y {PACKAGE}`),"
            " or run this command as root on Debian; the page tests need it."
        )
        return 1
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not STAMP.exists():
        _say("apt-get update")
        subprocess.run(["apt-get", "update"], check=True, env=env)
        STAMP.parent.mkdir(parents=True, exist_ok=True)
        STAMP.touch()
    _say(f"apt-get install -y {PACKAGE}")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", PACKAGE], check=True, env=env)
    if not present():
        _say(f"apt-get finished but {CHROMIUM} is still missing")
        return 1
    _say(f"{PACKAGE} installed at {CHROMIUM}")
    return 0


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "ensure"
    if command == "ensure":
        return ensure()
    if command == "status":
        _say(f"{PACKAGE} {'present' if present() else 'missing'} at {CHROMIUM}")
        return 0 if present() else 1
    _say(f"unknown command {command!r}; use ensure or status")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
