"""The certificate check every LgNet HTTP client shares."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def http_verify() -> ssl.SSLContext:
    """What httpx checks certificates against by default (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), built once
    per process. httpx builds one for each client or transport it is not given one, loading the whole CA bundle:
    25 to 40 ms of CPU per scheduler job, per SDK client, per service a test waits for (docs/benchmarks.md)."""
    return httpx.create_ssl_context()
