"""A form sent after its session lapsed (idle, or past its end), or from an older session's page: kept, sealed, for
its operator only, and given back once on the page it was sent from (after the login, for a lapsed session). Nothing
of it reached a service: the operator checks it and sends it again, its form key kept (one request, whatever
happened before). A file chosen in it is not kept: it is chosen again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.exceptions import InvalidTag
from lgnet_shared.db import Conn

from lgnet_desk.adapters import store
from lgnet_desk.domain import resubmission

KEPT_MINUTES = resubmission.KEPT_MINUTES  # then the form is not given back (a login an hour later is another day's)
RESTORED = "restored"  # the query flag of the page that takes its kept form back
# never kept: the token, the flag, and passwords (the password page's: typed again, never stored)
_NOT_KEPT = {"csrf", RESTORED, "current_password", "new_password", "new_password_again"}


def page(path: str, query: str) -> str:
    """A page's path and query as a kept form names it (without the flags that only say what happened)."""
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in (RESTORED, "done")]
    return path + (f"?{urlencode(kept)}" if kept else "")


def sent_from(referer: str | None, host: str | None) -> str | None:
    """The desk's own page a form was sent from (its Referer: the desk's Referrer-Policy sends it to the desk only);
    None when it came from elsewhere or says nothing."""
    if not referer or not host:
        return None
    parts = urlsplit(referer)
    if parts.netloc != host or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    return page(parts.path, parts.query)


LAPSED, UNAVAILABLE = "lapsed", "unavailable"  # why a form was kept: its session had ended; a service was away


@dataclass(frozen=True)
class KeptForm:
    action: str  # the address it was sent to (the page's forms say which of them it was: `posted`)
    fields: list[tuple[str, str]]
    why: str = LAPSED

    @property
    def last(self) -> dict[str, str]:
        """The last value of each field, as a posted form reads."""
        return dict(self.fields)

    @property
    def every(self) -> dict[str, list[str]]:
        """Every value of each field (a group of boxes)."""
        values: dict[str, list[str]] = {}
        for k, v in self.fields:
            values.setdefault(k, []).append(v)
        return values

    @property
    def typed(self) -> bool:
        """Whether it holds anything the operator wrote or chose (not only its token and key)."""
        return any(v.strip() for k, v in self.fields if k not in (*_NOT_KEPT, resubmission.FIELD))

    @property
    def posted(self) -> str:
        return self.action.rsplit("/", 1)[-1]


def landing(path: str, anchor: str | None = None) -> str:
    """Where the operator goes to take her form back (at its section, when the page has one for it)."""
    return f"{path}{'&' if '?' in path else '?'}{RESTORED}=1" + (f"#{anchor}" if anchor else "")


async def keep(conn: Conn, key: bytes, username: str, path: str, anchor: str | None, form: KeptForm) -> None:
    fields = [(k, v) for k, v in form.fields if k not in _NOT_KEPT]
    data = json.dumps({"action": form.action, "fields": fields, "why": form.why})
    await store.keep_form(conn, username, path, anchor, store.seal(key, _bound(username, path), data))


async def after_login(conn: Conn, username: str) -> str:
    """The page of the operator's form still kept, to take it back; else the home page. Every login also forgets
    the sessions long ended and the forms kept past their hour, whoever's."""
    await store.forget_lapsed(conn, KEPT_MINUTES)
    found = await store.kept_form_page(conn, username, KEPT_MINUTES)
    return landing(*found) if found else "/"


async def take(conn: Conn, key: bytes, username: str, path: str) -> KeptForm | None:
    """The operator's form kept for this page, once."""
    sealed = await store.take_kept_form(conn, username, path, KEPT_MINUTES)
    if sealed is None:
        return None
    try:
        data = json.loads(store.unseal(key, _bound(username, path), sealed))
    except (InvalidTag, ValueError):  # another master key since: nothing to give back
        return None
    return KeptForm(str(data["action"]), [(str(k), str(v)) for k, v in data["fields"]], str(data.get("why", LAPSED)))


def _bound(username: str, path: str) -> str:
    """What the seal is bound to: the form opens for its operator and page only."""
    return f"{username}|{path}"
