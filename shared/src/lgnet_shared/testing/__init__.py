"""Test helpers of LgNet (pytest plugin, fixtures, service processes)."""

from typing import Final

# How long a test's HTTP client waits on a running service's answer. httpx's default (5 s) timed out under a loaded
# CI machine (a service building its OpenAPI document at its first request); every such client waits this long.
HTTP_TIMEOUT_S: Final = 30.0
