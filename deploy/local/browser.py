"""A headless browser for the dashboard tests: Debian's Chromium at /usr/bin/chromium.

`python deploy/local/browser.py ensure` installs it when it is missing and we run as root on Debian
(`apt-get update` once, then `apt-get install -y chromium`); otherwise it says what to do. Idempotent: when
Chromium is there it only prints its path. `status` prints whether it is there (exit 1 if not).
Playwright drives it with `executable_path="/usr/bin/chromium"` — no browser download from the internet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
STAMP = Path(__file__).resolve().parents[2] / ".local" / "apt-updated"  # apt-get update only once per machine


def _say(text: str) -> None:
    print(f"browser: {text}", flush=True)


def present() -> bool:
    return CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)


def _debian() -> bool:
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def ensure() -> int:
    if present():
        _say(f"chromium present at {CHROMIUM}")
        return 0
    if not _debian() or os.geteuid() != 0:
        _say(
            f"{CHROMIUM} is missing. Install Debian's chromium package as root (`apt-get install -y chromium`),"
            " or run this command as root on Debian; the dashboard tests need it."
        )
        return 1
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not STAMP.exists():
        _say("apt-get update")
        subprocess.run(["apt-get", "update"], check=True, env=env)
        STAMP.parent.mkdir(parents=True, exist_ok=True)
        STAMP.touch()
    _say("apt-get install -y chromium")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], check=True, env=env)
    if not present():
        _say(f"apt-get finished but {CHROMIUM} is still missing")
        return 1
    _say(f"chromium installed at {CHROMIUM}")
    return 0


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "ensure"
    if command == "ensure":
        return ensure()
    if command == "status":
        _say(f"chromium {'present' if present() else 'missing'} at {CHROMIUM}")
        return 0 if present() else 1
    _say(f"unknown command {command!r}; use ensure or status")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
