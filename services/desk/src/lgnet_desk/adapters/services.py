"""The services' HTTP APIs as the desk calls them: always with the operator's own token, so every service-side
authorisation rule applies. A 4xx answer becomes a `ServiceRefusal` carrying the problem+json's field and reason; a
redirect (3xx) a refusal as not found; no answer, or a 5xx, `ServiceUnavailable`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from lgnet_desk.metrics import SERVICE_CALLS


@dataclass
class ServiceRefusal(Exception):
    status: int
    field: str
    reason: str
    errors: tuple[tuple[str, str], ...] = ()  # every (field, reason) the service named; the first is field, reason

    @property
    def each(self) -> tuple[tuple[str, str], ...]:
        return self.errors or ((self.field, self.reason),)


class ServiceUnavailable(httpx.HTTPError):
    """A service that did not answer (down, unreachable, too slow) or answered 5xx (its own fault, or a proxy's "502
    Bad Gateway" page in front of it): not a refusal of what was sent, and its body is never shown (a 5xx was read as
    the refusal of the form's first field, a proxy's HTML said there). An `httpx.HTTPError`, as the desk's reads that
    go on without a service away already catch. `kept`: form fields to keep on the form shown again (the members a
    registration had registered before the service went away)."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} unavailable: {detail}")
        self.service = service
        self.kept: dict[str, str] = {}


class ServiceNotRun(Exception):
    """A service the city does not run (LGNET_DESK_SERVICES): it has no address, and is never called. Neither a
    refusal nor a service away (what the desk's reads that go on without a service catch): the page that needs it is
    answered as one the city does not use (404)."""

    def __init__(self, service: str) -> None:
        super().__init__(f"{service} is not run by the city")
        self.service = service


# Intake's read log marks the reads the desk makes (which the desk logs itself, with the purpose): docs/desk.md.
CLIENT = {"LgNet-Client": "desk"}


class Services:
    """`urls`: those of the services the city runs only (`DeskSettings.service_urls`)."""

    def __init__(self, urls: dict[str, str], tokens: dict[str, str], client: httpx.AsyncClient) -> None:
        self.urls, self.tokens, self.client = urls, tokens, client

    def runs(self, service: str) -> bool:
        return service in self.urls

    def _address(self, service: str) -> str:
        if service not in self.urls:
            raise ServiceNotRun(service.removesuffix("-read-log"))
        return self.urls[service]

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        key: str | None = None,
        content: tuple[bytes, str] | None = None,
        if_match: str | None = None,
    ) -> Any:
        """`key`: the Idempotency-Key of a change (a form's, so that the form sent twice is one request), else a
        fresh one. `content`: a body sent as it is, with its media type (a bank's file), instead of JSON. `if_match`:
        the ETag the change is made over (refused, 412, when the record has changed since)."""
        url = self._address(service) + path
        token = self.tokens.get(service)
        if token is None:
            raise ServiceRefusal(403, "", "no identity on this service")
        headers = {"Authorization": f"Bearer {token}", **CLIENT}
        if method != "GET":
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
        if if_match is not None:
            headers["If-Match"] = if_match
        body = None
        if content is not None:
            body, headers["Content-Type"] = content
        try:
            r = await self.client.request(
                method, url, json=json, content=body, params=params, headers=headers, timeout=15
            )
        except httpx.HTTPError as e:
            SERVICE_CALLS.labels(service, "unavailable").inc()
            raise ServiceUnavailable(service, type(e).__name__) from e
        _answered(service, r)
        if r.status_code >= 400:
            try:
                body = r.json()
                named = body.get("errors")
                errors = tuple(
                    (str(e["field"]), str(e["reason"]))
                    for e in (named if isinstance(named, list) else ())
                    if isinstance(e, dict) and "field" in e and "reason" in e
                )
                raise ServiceRefusal(r.status_code, str(body.get("field", "")), str(body.get("reason", r.text)), errors)
            except ValueError:
                raise ServiceRefusal(r.status_code, "", r.text[:200]) from None
        return r.json() if r.content else None

    async def download(self, service: str, path: str) -> tuple[bytes, str, str]:
        """(content, media type, Content-Disposition) of a binary answer."""
        url = self._address(service) + path
        token = self.tokens.get(service)
        if token is None:
            raise ServiceRefusal(403, "", "no identity on this service")
        headers = {"Authorization": f"Bearer {token}", **CLIENT}
        try:
            r = await self.client.get(url, headers=headers, timeout=30)
        except httpx.HTTPError as e:
            SERVICE_CALLS.labels(service, "unavailable").inc()
            raise ServiceUnavailable(service, type(e).__name__) from e
        _answered(service, r)
        if r.status_code >= 400:
            body = r.json() if r.headers.get("content-type", "").endswith("json") else {}
            raise ServiceRefusal(r.status_code, str(body.get("field", "")), str(body.get("reason", r.text[:200])))
        return (
            r.content,
            r.headers.get("content-type", "application/octet-stream"),
            r.headers.get("content-disposition", "attachment"),
        )

    async def get(self, service: str, path: str, **params: Any) -> Any:
        return await self.call(service, "GET", path, params={k: v for k, v in params.items() if v is not None})

    async def post(self, service: str, path: str, body: Any, key: str | None = None) -> Any:
        return await self.call(service, "POST", path, json=body, key=key)

    async def put(self, service: str, path: str, body: Any, key: str | None = None, if_match: str | None = None) -> Any:
        return await self.call(service, "PUT", path, json=body, key=key, if_match=if_match)

    async def patch(self, service: str, path: str, body: Any, key: str | None = None) -> Any:
        return await self.call(service, "PATCH", path, json=body, key=key)


NO_SUCH_ADDRESS = "the service has no such address"


def _answered(service: str, r: httpx.Response) -> None:
    """Counts the answer; a 5xx raised as the service unavailable, a redirect as not found."""
    SERVICE_CALLS.labels(service, _outcome(r.status_code)).inc()
    if r.status_code >= 500:
        raise ServiceUnavailable(service, f"HTTP {r.status_code}")
    _not_redirected(r)


def _not_redirected(r: httpx.Response) -> None:
    """A redirect is never the answer the desk asked for: the services redirect only an address they do not serve as
    such (FastAPI sends `/outings/`, an empty id from a form whose hidden field was taken out, to its list `/outings`).
    Taken for the answer, it was drawn as an outing and the page failed (500): it is refused as not found."""
    if 300 <= r.status_code < 400:
        raise ServiceRefusal(404, "", NO_SUCH_ADDRESS)


def service_path(template: str, *values: str, **named: str) -> str:
    """A service's path with each value (a form's, an address's) as one segment: escaped whole, so that `/`, `?`, `#`
    or a dot segment in an id cannot name another path of the service (`../matches/m-1/acceptance?x=` as a placement's
    id made "end the placement" accept a match). Every path the desk calls with a value in it is made here."""
    return template.format(*map(_segment, values), **{k: _segment(v) for k, v in named.items()})


def _segment(value: str) -> str:
    quoted = quote(str(value), safe="")
    # `.` is never escaped by quote, but "." and ".." are dot segments that the HTTP client resolves (RFC 3986)
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def _outcome(status: int) -> str:
    return "ok" if status < 400 else "refused" if status < 500 else "unavailable"
