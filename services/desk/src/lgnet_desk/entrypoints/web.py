"""The desk's pages (server-rendered, Jinja2). Thin: read the session, check CSRF, call a use case, render."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from lgnet_shared import clock, db, http, pii, tls
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from lgnet_desk.adapters import store
from lgnet_desk.adapters.services import ServiceNotRun, ServiceRefusal, Services, ServiceUnavailable, service_path
from lgnet_desk.domain import access_log as access_log_domain
from lgnet_desk.domain import countries, fiscal_codes, languages, resubmission, spreadsheet
from lgnet_desk.domain.days import typed_day
from lgnet_desk.domain.erasure import may_erase
from lgnet_desk.domain.households import reference_erased, reference_name, shown
from lgnet_desk.domain.operators import SERVICES, LockoutPolicy, Operator, OperatorRole, codes_named
from lgnet_desk.domain.persons import full_name
from lgnet_desk.entrypoints import civic_pages, i18n
from lgnet_desk.entrypoints.forms import UNSTORABLE, as_days, form_of, storable
from lgnet_desk.metrics import LOGINS
from lgnet_desk.service_layer import access_log as access_log_uc
from lgnet_desk.service_layer import approvals, cartella_forms, desk, kept_forms, login, oidc
from lgnet_desk.service_layer import subject_access as subject_access_uc
from lgnet_desk.settings import DeskSettings

SESSION_COOKIE, LOGIN_CSRF_COOKIE, LANG_COOKIE = "desk_session", "desk_login_csrf", "desk_lang"
TEMPLATES = Environment(
    loader=FileSystemLoader(str(resources.files("lgnet_desk.entrypoints").joinpath("templates"))),
    autoescape=select_autoescape(),
)
TEMPLATES.globals["reference_name"] = reference_name  # a household named alike on every page
TEMPLATES.globals["reference_erased"] = reference_erased  # its reference person erased: said so, not "not visible"
TEMPLATES.globals["shown"] = shown  # a member intake shows, named or not
TEMPLATES.globals["may_erase"] = may_erase  # who is offered a person's erasure (GDPR art. 17): the city's staff
CSRF_REFUSED = "CSRF token missing or wrong"
PURPOSES = ("case_work", "case_review", "subject_access")
FAMILY_SIZE = 6  # rows of the registration form
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Page:
    """What one request knows: language, operator, CSRF token, and how to call the services as the operator."""

    def __init__(
        self,
        request: Request,
        op: Operator | None,
        csrf: str,
        services: Services | None,
        operators: list[Operator] | None = None,
        partners: list[dict[str, str]] | None = None,
        restored: kept_forms.KeptForm | None = None,
    ) -> None:
        self.request, self.op, self.csrf, self.services = request, op, csrf, services
        self.restored = restored  # the operator's form kept when her session lapsed: shown again in its page's form
        self.partners = partners or []  # the city's partner organisations: choices, and names for their ids
        # Two namespaces, looked up apart (a username may equal a cooperative's id): the desk's operators by
        # username, and the services' actors (a cooperative by its id, a staff operator by the actor stored with her:
        # `desk.op-…`, or `desk.<username>` for one added before migration desk-7).
        self.operator_names = {o.username: o.display_name for o in operators or []}
        # A third: who an appointment, an outing or a session names (intake's `operator`, `staff`, `facilitators`), by
        # her code (`op-…`, or her username for one added before migration desk-9).
        self.code_names = {o.code: o.display_name for o in operators or [] if o.code}
        # An appointment's operator is a code within its party (intake's `operator_partner`: a cooperative, None for
        # the city's staff): a cooperative's system may name its own operator with a city operator's code.
        self.party_code_names = {(o.code, o.partner): o.display_name for o in operators or [] if o.code}
        self.actor_names = {
            o.service_actor: o.display_name for o in operators or [] if o.role is OperatorRole.STAFF and o.service_actor
        } | {p["partner_id"]: p["name"] for p in self.partners}
        self.lang = i18n.language(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))
        self.t = i18n.translations(self.lang)

    def lang_links(self) -> dict[str, str]:
        """This page in each language, its query kept (switching language lost the search, the agenda's day)."""
        query = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
        return {lang: f"{self.request.url.path}?{urlencode([*query, ('lang', lang)])}" for lang in i18n.LANGUAGES}

    def no_account(self, code: str) -> Markup:
        """An operator the services name by a code the desk has no account for (a cooperative's own system's, a
        scenario's): said so, her code small beside it ("nell'agenda di op-desk-torino-0" read as a raw id)."""
        said = self.t.gettext("an operator without an account at the desk")
        return Markup('{} <small class="id">{}</small>').format(said, code)

    def render(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = self.lang
        if self.restored and not ctx.get("form"):  # as a form refused is shown again: which, its values, its boxes
            kept = self.restored
            ctx |= {"form": as_days(kept.last), "picked": kept.every, "posted": kept.posted, "restored": kept.why}
            ctx["posted_to"] = kept.action  # a page of forms of one kind per row finds the row's by its address
        # The forms' resubmission key: the posted form's when it is shown again (its second sending is the same
        # request), else a new one.
        form_key = resubmission.kept(ctx.get("form") or {}) or resubmission.fresh()
        html = TEMPLATES.get_template(name).render(
            _=self.t.gettext,
            ngettext=self.t.ngettext,  # a count with its noun: ngettext("%(n)s place", "%(n)s places", n) % {"n": n}
            pgettext=self.t.pgettext,  # a sentence that agrees with a person's sex: pgettext("female", "…")
            lang=lang,
            op=self.op,
            csrf=self.csrf,
            day=lambda v: i18n.day(v, lang),
            moment=lambda v, seconds=False: i18n.moment(v, lang, seconds=seconds),
            time_of_day=lambda v: i18n.time_of_day(v, lang),
            euros=lambda v: i18n.euros(v, lang),
            size=lambda v: i18n.size(v, lang),
            points=lambda v: i18n.points(v, lang),  # a housing score's points
            # `said`: the name the service gave the actor (its read log's `principal_name`), when the desk knows none
            who=lambda actor, said=None: (self.actor_names.get(actor) or said or actor) if actor else "—",
            operator=lambda username: self.operator_names.get(username, username) if username else "—",
            operator_by_code=lambda code: self.code_names.get(code) or self.no_account(code) if code else "—",
            operator_of=lambda code, party: (
                self.party_code_names.get((code, party)) or self.no_account(code) if code else "—"
            ),
            code=lambda lst, v: i18n.code(lst, v, lang),
            country=lambda iso: i18n.country(iso, lang),
            languages=lambda codes: i18n.languages(codes, lang),
            access_action=lambda a: i18n.access_action(a, self.t),
            bank_refusal=lambda reason: i18n.bank_refusal(reason, self.t),
            access_source=lambda source, via: i18n.access_source(source, via, self.t),
            subject_action=lambda a: i18n.subject_action(a, self.t),
            subject_how=lambda source, via: i18n.subject_how(source, via, self.t),
            subject_outcome=lambda o: self.t.gettext(i18n.SUBJECT_OUTCOMES.get(o) or o),
            country_names=lambda: countries.names(i18n.BABEL_LOCALE[lang]),
            language_names=lambda: languages.names(i18n.BABEL_LOCALE[lang]),
            reason=lambda text: codes_named(i18n.reason(str(text), lang), self.code_names),  # "operator op-…": her name
            sentence=i18n.sentence,
            typed_day=typed_day,  # a date field's value, gg/mm/aaaa
            day_hint=lambda: Markup(' <span class="hint">({})</span>').format(self.t.gettext("dd/mm/yyyy")),
            time_hint=lambda: Markup(' <span class="hint">({})</span>').format(self.t.gettext("hh:mm")),
            ended=i18n.ended,
            codes=lambda lst: i18n.codes(lst, lang),
            partners=self.partners,
            form_key=form_key,
            path=self.request.url.path,
            lang_links=self.lang_links(),
            services_run=getattr(self.request.app.state, "services_run", SERVICES),  # the menu and parts: of those
            **ctx,
        )
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if self.request.query_params.get("lang") in i18n.LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, samesite="strict", httponly=True, max_age=365 * 86400)
        return response

    def denied(self, refusal: ServiceRefusal, *, logged: bool = False) -> HTMLResponse:
        """A service refused to show what the page reads: its reason, with its status (403, 404, or another 4xx: a
        409 for a person erased meanwhile, a 422 for what was asked); the desk's own credential refused (401), a 502
        saying the service is unavailable (its answer not shown). `logged`: a person's data, the attempt written to
        the access log (the page says so only then)."""
        status = refused_status(refusal)
        return self.render("denied.html", status=status, refusal=refusal.reason, logged=logged, refused=status)


def refused_status(refusal: ServiceRefusal) -> int:
    """A service's refusal as the desk's answer: its 4xx, but the desk's own credential refused (401) and anything
    else said as the service unavailable (502)."""
    return refusal.status if 400 <= refusal.status < 500 and refusal.status != 401 else 502


async def session_of(request: Request, idle_minutes: int) -> tuple[Operator, str] | None:
    """The operator and CSRF token of the request's session, if it has a live one (this page keeps it alive)."""
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        return None
    async with request.app.state.pool.acquire() as conn:
        return await store.session(conn, login.session_hash(sid), idle_minutes)


async def keep_the_form(request: Request, key: bytes, username: str | None, why: str = kept_forms.LAPSED) -> str | None:
    """A form that cannot be served as sent (its session lapsed, its CSRF token an older session's, a service it
    needs away: `why`), kept for its operator (`username`; None: the lapsed session's, if the desk still holds it).
    The page it came from; None when nothing was kept (no such operator, a form not sent from the desk's own page)."""
    typed = await typed_form(request, why)
    if typed is None:
        return None
    path, kept = typed
    storable(kept.fields)
    async with request.app.state.pool.acquire() as conn:
        if username is None:
            username = await store.lapsed_session(conn, login.session_hash(request.cookies.get(SESSION_COOKIE, "")))
        if username is None:
            return None
        return await keep_for(conn, key, username, path, kept)


async def typed_form(request: Request, why: str = kept_forms.LAPSED) -> tuple[str, kept_forms.KeptForm] | None:
    """The desk's page a form was sent from and what the operator wrote or chose in it; None when it came from
    elsewhere or holds nothing typed (a logout, an action's button: nothing to give back)."""
    path = kept_forms.sent_from(request.headers.get("referer"), request.headers.get("host"))
    if path is None:
        return None
    form = await request.form()
    fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    kept = kept_forms.KeptForm(request.url.path, fields, why)
    return (path, kept) if kept.typed else None


async def keep_for(conn: Any, key: bytes, username: str, path: str, kept: kept_forms.KeptForm) -> str:
    """Keeps `kept` for the operator's page `path`; where she takes it back (a form of the cartella: at its section,
    as after it is sent, `i18n.CARTELLA_DONE`)."""
    anchor = i18n.CARTELLA_DONE.get(kept.posted, (None,))[0] if path.startswith("/persons/") else None
    await kept_forms.keep(conn, key, username, path, anchor, kept)
    return kept_forms.landing(path, anchor)


# The pages (by their address's first segment) and the cartella's forms (`/persons/{id}/<form>…`, a payee's under
# contributions/) of one service alone: with the city not running it, the page answers that the city does not use
# it (404), before anything is read or sent.
PAGES_OF = {"payments": "payments", "approvals": "payments", "shared-payees": "payments", "housing": "housing"}
FORMS_OF = {"contributions": "payments", "vouchers": "payments", "tutoring": "payments"}


def service_of_page(path: str) -> str | None:
    """The one service the page at `path` needs besides intake, if any (`/households/h-1/housing`: housing)."""
    parts = path.strip("/").split("/")
    if parts[0] in PAGES_OF:
        return PAGES_OF[parts[0]]
    if parts[0] == "households" and len(parts) > 2 and parts[2] == "housing":
        return "housing"
    if parts[0] == "persons" and len(parts) > 2:
        return FORMS_OF.get(parts[2])
    return None


@dataclass
class LogQuery:
    """The access log's filters, as its form sends them (the page's and the CSV's)."""

    person_id: str | None = None
    operator: str | None = None  # a username of the city's operators: what she looked at
    source: str | None = None
    since: str | None = None  # days, gg/mm/aaaa
    until: str | None = None


def page_loader(settings: DeskSettings) -> Callable[..., Awaitable[Page]]:
    """The page of a request: the operator's session (else a redirect to the login), the CSRF check of a form post,
    the role a screen needs, and the operator's identities on the services."""
    token_key, kept_key = _token_key(settings), _kept_key(settings)

    async def page(
        request: Request, *, csrf_check: bool = False, need: OperatorRole | None = None, any_role: bool = False
    ) -> Page:
        pool = request.app.state.pool
        storable([*request.path_params.items(), *request.query_params.multi_items()])
        found = await session_of(request, settings.idle_minutes)
        if found is None:
            kept = csrf_check and await keep_the_form(request, kept_key, None)
            # A session the desk no longer knows (ended a day ago and more) cannot say whose the form is: nothing is
            # kept, but the login says that what was written was not recorded (it was lost without a word).
            lost = csrf_check and not kept and await typed_form(request) is not None
            raise HTTPException(
                303, headers={"Location": "/login?kept=1" if kept else "/login?lost=1" if lost else "/login"}
            )
        op, csrf = found
        if (needed := service_of_page(request.url.path)) and needed not in settings.services:
            raise ServiceNotRun(needed)
        restored = None
        if csrf_check:
            form = await request.form()
            if not secrets.compare_digest(str(form.get("csrf", "")), csrf):
                if back := await keep_the_form(request, kept_key, op.username):
                    raise HTTPException(303, headers={"Location": back})
                raise HTTPException(403, CSRF_REFUSED)
            storable((k, v) for k, v in form.multi_items() if isinstance(v, str))
        elif request.query_params.get(kept_forms.RESTORED):
            here = kept_forms.page(request.url.path, request.url.query)
            async with pool.acquire() as conn:
                restored = await kept_forms.take(conn, kept_key, op.username, here)
            request.state.taken = (here, restored)  # kept again if a service the page reads is away (`service_away`)
        if need is not None and op.role is not need:
            raise HTTPException(403, "not for this role")
        # The DPO has no identity on the services (she reads the access log): every other page is not hers, refused
        # here rather than by a service (which logged her attempt as a denied view of the person).
        if op.role is OperatorRole.DPO and need is not OperatorRole.DPO and not any_role:
            raise HTTPException(403, "not for this role")
        async with pool.acquire() as conn:
            tokens = await store.tokens(conn, op.username, token_key)
            operators = await store.city_operators(conn, op.city)
        services = Services(settings.service_urls(), tokens, request.app.state.http)
        partners = await request.app.state.partners.of(services, op.city)
        return Page(request, op, csrf, services, operators, partners, restored=restored)

    return page


def lockout_policy(settings: DeskSettings) -> LockoutPolicy:
    lockout = timedelta(minutes=settings.lockout_minutes)
    return LockoutPolicy(settings.max_failures, lockout, settings.client_max_failures)


def router(settings: DeskSettings) -> APIRouter:
    api = APIRouter()
    policy = lockout_policy(settings)

    page = page_loader(settings)
    # The cookie outlives its session by the time a form is kept: a form sent just after the session's end still
    # names whose it is (the session itself is over: store.session).
    cookie_seconds = (settings.session_minutes + kept_forms.KEPT_MINUTES) * 60

    login_key = pii.derive(settings.master_key_bytes(), "desk-login-attempts")  # a name no operator has: hashed

    @api.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        token = secrets.token_urlsafe(32)
        kept = request.query_params.get("kept") == "1"  # a flag only: the page says its own words
        lost = request.query_params.get("lost") == "1"
        response = Page(request, None, token, None).render(
            "login.html", oidc=settings.oidc_enabled, kept=kept, lost=lost
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=settings.cookie_secure, max_age=1800
        )
        return response

    @api.post("/login", response_class=HTMLResponse)
    async def do_login(request: Request) -> Response:
        form = await form_of(request)
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        p = Page(request, None, expected, None)
        if not expected or not secrets.compare_digest(form.get("csrf", ""), expected):
            return p.render("login.html", status=403, error=p.t.gettext("The form expired: please try again."))
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            try:
                client = request.client.host if request.client else ""
                sid, _ = await login.log_in(
                    conn,
                    form.get("username", ""),
                    form.get("password", ""),
                    client,
                    policy,
                    settings.session_minutes,
                    name_key=login_key,
                )
            except login.LoginRefused as refused:
                LOGINS.labels("throttled" if refused.throttled else "locked" if refused.locked else "refused").inc()
                if refused.throttled:  # this address, whatever the account: 429, as an HTTP client expects
                    error = p.t.gettext("Too many failed attempts from this address: please try again later.")
                    return p.render("login.html", status=429, error=error, username=form.get("username", ""))
                error = (
                    p.t.ngettext(
                        "Too many failed attempts: the account is locked for %(minutes)d minute.",
                        "Too many failed attempts: the account is locked for %(minutes)d minutes.",
                        settings.lockout_minutes,
                    )
                    % {"minutes": settings.lockout_minutes}
                    if refused.locked
                    else p.t.gettext("Wrong username or password.")
                )
                return p.render("login.html", status=401, error=error, username=form.get("username", ""))
            landing = await kept_forms.after_login(conn, form.get("username", ""))
        LOGINS.labels("ok").inc()
        response = RedirectResponse(landing, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            httponly=True,
            samesite="strict",
            secure=settings.cookie_secure,
            max_age=cookie_seconds,
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    @api.get("/login/oidc")
    async def oidc_begin(request: Request) -> Response:
        if not settings.oidc_enabled:
            raise HTTPException(404, "OpenID Connect is not configured")
        async with request.app.state.pool.acquire() as conn:
            url = await oidc.begin(conn, request.app.state.http, settings)
        return RedirectResponse(url, status_code=303)

    @api.get("/login/oidc/callback", response_class=HTMLResponse)
    async def oidc_callback(request: Request, code: str = "", state: str = "") -> Response:
        if not settings.oidc_enabled:
            raise HTTPException(404, "OpenID Connect is not configured")
        storable(request.query_params.multi_items())
        p = Page(request, None, "", None)
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            try:
                sid, op = await oidc.finish(
                    conn, request.app.state.http, settings, code, state, settings.session_minutes
                )
                landing = await kept_forms.after_login(conn, op.username)
            except login.LoginRefused:
                LOGINS.labels("refused").inc()
                return p.render(
                    "login.html",
                    status=401,
                    oidc=True,
                    error=p.t.gettext("The identity provider's login was not accepted."),
                )
        LOGINS.labels("ok").inc()
        return _with_session(RedirectResponse(landing, status_code=303), sid)

    def _with_session(response: Response, sid: str) -> Response:
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            httponly=True,
            samesite="lax",  # the provider redirects back cross-site: Strict would drop the cookie on that hop
            secure=settings.cookie_secure,
            max_age=cookie_seconds,
        )
        return response

    @api.post("/logout")
    async def logout(request: Request) -> Response:
        await page(request, csrf_check=True)
        async with request.app.state.pool.acquire() as conn:
            await store.end_session(conn, login.session_hash(request.cookies.get(SESSION_COOKIE, "")))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @api.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        """The empty search; a case number (no personal data: the to-do list links to it) is searched from the
        address. A name or a fiscal code in the address is ignored: they are searched by the form's POST only."""
        p = await page(request, any_role=True)
        assert p.op is not None
        if p.op.reads_access_log:
            return RedirectResponse("/access-log", status_code=303)
        q = {"name": "", "fiscal_code": "", "case_id": request.query_params.get("case_id", "").strip()}
        return await search(p, q, request.query_params.get("purpose", ""))

    @api.post("/", response_class=HTMLResponse)
    async def search_form(request: Request) -> Response:
        """The search form: a person's name and fiscal code in the request's body, never in the address (the
        browser's history, proxies' logs)."""
        p = await page(request, csrf_check=True)
        form = await form_of(request)
        q = {k: form.get(k, "").strip() for k in ("name", "fiscal_code", "case_id")}
        # "Cerca" with every field empty redrew the empty form without a word: it says what to give.
        return await search(p, q, form.get("purpose", ""), asked=True)

    async def search(p: Page, q: dict[str, str], purpose: str, *, asked: bool = False) -> Response:
        results: list[dict[str, Any]] | None = None
        error = "give a name, a fiscal code or a case number" if asked and not any(q.values()) else None
        status = 200
        purpose = purpose if purpose in PURPOSES else "case_work"
        if fiscal_codes.looks_like(q["name"]) and not q["fiscal_code"]:  # a code typed as a name: searched as one
            q = q | {"name": "", "fiscal_code": q["name"].strip()}
        # A mistyped code finds nobody (intake matches the exact code): what is wrong with it is said at the field.
        mistyped = fiscal_codes.problem(q["fiscal_code"])
        errors = {"fiscal_code": mistyped} if mistyped else {}
        if mistyped:
            status = 422
        elif any(q.values()):
            assert p.services is not None and p.op is not None
            try:
                # In the body: a name or fiscal code in intake's address would sit in proxies' access logs.
                async with p.request.app.state.pool.acquire() as conn:
                    terms = {k: v or None for k, v in q.items()}
                    results = await desk.search_logged(conn, p.services, p.op, terms, purpose)
            except ServiceRefusal as r:
                error = r.reason
                # intake's 403 (another party's case) or 404 (a case nobody has), said with its status
                status = r.status if r.status in (403, 404) else status
        return p.render(
            "search.html",
            status=status,
            q=q,
            results=results,
            error=error,
            errors=errors,
            purposes=PURPOSES,
            purpose=purpose,
        )

    @api.get("/persons/new", response_class=HTMLResponse)
    async def new_household(request: Request, person_id: str = "") -> Response:
        """The registration form; `?person_id=` (from the cartella of a person in no household): with her in it, as
        the reference person or, `&as=member`, as a member."""
        p = await page(request)
        form: dict[str, str] = {}
        if person_id:
            assert p.services is not None and p.op is not None
            as_member = request.query_params.get("as") == "member"
            async with request.app.state.pool.acquire() as conn:
                try:
                    form = await desk.household_with(conn, p.services, p.op, person_id, as_member)
                except ServiceRefusal as r:
                    return p.denied(r, logged=True)
        return p.render("register.html", form=form, errors={}, rows=range(FAMILY_SIZE))

    @api.post("/persons/new", response_class=HTMLResponse)
    async def register(request: Request) -> Response:
        p = await page(request, csrf_check=True)
        assert p.services is not None
        form = await form_of(request)
        try:
            partner = _partner_of(p.op) if p.op is not None else None
            pid = await desk.register_household(p.services, form, FAMILY_SIZE, clock.today(), partner)
        except desk.FieldErrors as e:
            form = form | e.kept  # members intake accepted: kept, not registered again
            return p.render(
                "register.html", status=422, form=form, errors=e.errors, rows=range(FAMILY_SIZE), on_file=e.on_file
            )
        except ServiceRefusal as r:
            return p.render(
                "register.html", status=422, form=form, errors={"m0_given_name": r.reason}, rows=range(FAMILY_SIZE)
            )
        except ServiceUnavailable as e:  # the form as typed, the members registered before kept (not sent again)
            form = form | e.kept
            return p.render("register.html", status=503, form=form, errors={}, rows=range(FAMILY_SIZE), away=e.service)
        return RedirectResponse(f"/persons/{pid}?purpose=case_work", status_code=303)

    @api.get("/persons/{person_id}", response_class=HTMLResponse)
    async def cartella(request: Request, person_id: str, purpose: str = "case_work") -> Response:
        p = await page(request)
        assert p.services is not None and p.op is not None
        purpose = purpose if purpose in PURPOSES else "case_work"
        async with request.app.state.pool.acquire() as conn:
            try:
                record = await desk.folder(conn, p.services, p.op, person_id, purpose)
            except ServiceRefusal as r:
                return p.denied(r, logged=True)
        done = i18n.CARTELLA_DONE.get(request.query_params.get("done", ""))  # a form just sent: said at its section
        # the correcting forms open with what is on file (the assessment of the case chosen by `?assessment_of=`)
        assessed = cartella_forms.assessment_on_file(record, request.query_params.get("assessment_of"))
        return p.render(
            "cartella.html",
            r=record,
            errors={},
            today=clock.today().isoformat(),
            purpose=purpose,
            done=done,
            assessed=assessed,
        )

    async def act(
        request: Request,
        person_id: str,
        run: cartella_forms.CartellaRun,
        ends_access: Callable[[cartella_forms.Sent], bool] | None = None,
        done_as: str | None = None,
    ) -> Response:
        """A cartella form: read as sent (`cartella_forms.Sent`) and run; sent, back at the section showing what it
        recorded; refused or its service away, shown again. `ends_access`: whether what was recorded ends the
        operator's own access to the person (a cooperative recording the withdrawal of the sharing consent): confirmed
        on its own page, the cartella not read again (it was, refused as "access denied", and logged as a denied
        attempt she never made)."""
        p = await page(request, csrf_check=True)
        assert p.services is not None and p.op is not None
        form = await form_of(request)
        every: dict[str, list[str]] = {}
        files = {}
        for name, value in (await request.form()).multi_items():
            if isinstance(value, str):
                every.setdefault(name, []).append(value)
            else:
                files[name] = value
        at = {k: v for k, v in request.path_params.items() if k != "person_id"}
        sent = cartella_forms.Sent(person_id, form, clock.today(), every, at, _partner_of(p.op), files)
        try:
            await run(p.services, sent)
        except desk.FieldErrors as e:  # what was recorded before the refusal kept on the form (a newcomer registered)
            return await shown_again(request, p, person_id, form | e.kept, 422, e.errors, on_file=e.on_file)
        except ServiceUnavailable as e:  # nothing recorded: the form as typed, saying which service is away
            return await shown_again(request, p, person_id, form, 503, {}, away=e.service)
        if ends_access is not None and ends_access(sent):
            return p.render("access_ended.html", person_id=person_id)
        done = done_as or request.url.path.rsplit("/", 1)[-1]  # the page opens where it is shown, saying so
        section = i18n.CARTELLA_DONE[done][0] if done in i18n.CARTELLA_DONE else "h-person"
        return RedirectResponse(f"/persons/{person_id}?purpose=case_work&done={done}#{section}", status_code=303)

    async def shown_again(
        request: Request,
        p: Page,
        person_id: str,
        form: dict[str, str],
        status: int,
        errors: dict[str, str],
        away: str | None = None,
        on_file: dict[str, str] | None = None,
    ) -> Response:
        """The cartella with the form sent shown again as it was (refused at its fields, or its service `away`). The
        cartella is intake's: with intake away it cannot be shown, and `service_away` keeps the form instead.
        `on_file`: a newcomer's row ("mn") → the person on file it names, her cartella linked."""
        assert p.services is not None and p.op is not None
        async with request.app.state.pool.acquire() as conn:
            try:
                record = await desk.folder(conn, p.services, p.op, person_id, "case_work")
            except ServiceRefusal as r:  # a person the operator may not see (the address changed): refused
                return p.denied(r, logged=True)
        raw = await request.form()
        return p.render(
            "cartella.html",
            status=status,
            r=record,
            errors=errors,
            away=away,
            form=form,
            # the form sent, shown again as it was: its boxes ticked (`picked`: every value of a field) and the
            # other forms as new (`posted`: which form it was)
            picked={k: [str(v) for v in raw.getlist(k)] for k in raw},
            posted=request.url.path.rsplit("/", 1)[-1],
            today=clock.today().isoformat(),
            purpose="case_work",
            on_file=on_file or {},
            assessed=cartella_forms.assessment_on_file(record),
        )

    def cartella_form(name: str, run: cartella_forms.CartellaRun) -> None:
        """A cartella form run by the service layer (`cartella_forms.FORMS`): its path is `/persons/{id}/<name>`."""

        async def post(request: Request, person_id: str) -> Response:
            ends_access = cartella_forms.ENDS_ACCESS.get(name)
            return await act(request, person_id, run, ends_access, cartella_forms.DONE_AS.get(name))

        api.post(f"/persons/{{person_id}}/{name}", response_class=HTMLResponse, name=name)(post)

    for name, run in cartella_forms.FORMS.items():
        cartella_form(name, run)

    @api.get("/persons/{person_id}/documents/{document_id}")
    async def download(request: Request, person_id: str, document_id: str) -> Response:
        p = await page(request)
        assert p.services is not None and p.op is not None
        async with request.app.state.pool.acquire() as conn:
            try:
                content, media_type, disposition = await p.services.download(
                    "intake", service_path("/persons/{}/documents/{}", person_id, document_id)
                )
            except ServiceRefusal as r:
                await store.log_access(conn, p.op, person_id, "case_work", f"document {document_id}", "denied")
                return p.denied(r, logged=True)
            await store.log_access(conn, p.op, person_id, "case_work", f"document {document_id}", "shown")
        return Response(
            content, media_type=media_type, headers={"Content-Disposition": disposition, **SECURITY_HEADERS}
        )

    @api.get("/persons/{person_id}/privacy-notice", response_class=HTMLResponse)
    async def privacy_notice(request: Request, person_id: str) -> Response:
        """The privacy notice (GDPR art. 13) to print and hand over when consent is captured, naming the person. Read
        like the cartella: a person the operator may not see is refused, and the view is in the access log (an
        outside test found a notice served for any id at all)."""
        p = await page(request)
        assert p.services is not None and p.op is not None
        async with request.app.state.pool.acquire() as conn:
            try:
                person = await desk.read_logged(
                    conn, p.services, p.op, person_id, service_path("/persons/{}", person_id), "privacy notice"
                )
            except ServiceRefusal as r:
                return p.denied(r, logged=True)
        name = full_name(person) or ""
        return p.render(
            "privacy_notice.html",
            person_id=person_id,
            person_name=name,
            today=clock.today().isoformat(),
            controller=settings.privacy_controller,
            dpo_contact=settings.privacy_dpo_contact,
            retention=settings.privacy_retention,
        )

    @api.get("/todo", response_class=HTMLResponse)
    async def todo(request: Request) -> Response:
        p = await page(request, any_role=True)
        assert p.services is not None and p.op is not None
        if p.op.reads_access_log:
            return RedirectResponse("/access-log", status_code=303)
        mine = bool(request.query_params.get("mine"))  # her own appointments' reminders only
        items, unavailable = await desk.todo(p.services, p.op.code if mine else None)
        cases = await desk.cases_by_id(p.services, [i["case_id"] for i in items if i.get("case_id")])
        async with request.app.state.pool.acquire() as conn:  # who is coming to each appointment, by name
            persons = [
                i["person_id"] for i in items if i.get("kind") == "appointment_reminder_due" and i.get("person_id")
            ]
            names = await desk.person_names(conn, p.services, p.op, persons, "to-do")
            streets = [
                i["street_id"]
                for i in items
                if i.get("kind") == "appointment_reminder_due" and i.get("street_id") and not i.get("person_id")
            ]
            nicknames = await desk.street_nicknames(conn, p.services, p.op, streets, "to-do")
        return p.render(
            "todo.html", items=items, cases=cases, names=names, nicknames=nicknames, unavailable=unavailable, mine=mine
        )

    async def approvals_page(
        request: Request,
        p: Page,
        status: int = 200,
        failed: str | None = None,
        error: str | None = None,
        form: dict[str, str] | None = None,
        reason_missing: bool = False,
    ) -> Response:
        """The requests waiting, each named (its household, its period); a refused decision (`failed`, `error`) is
        said at the page's top naming its row, and in the row."""
        assert p.services is not None and p.op is not None
        async with request.app.state.pool.acquire() as conn:
            try:
                pending = await approvals.pending(conn, p.services, p.op)
            except ServiceRefusal as r:
                return p.denied(r)
        # The decision just recorded is said so (the page said nothing); only flags are read from the address, no text
        # from it is shown (`?error=` was, as the page's alert: a link could make the desk say anything).
        done, rejected = bool(request.query_params.get("done")), bool(request.query_params.get("rejected"))
        shared = bool(request.query_params.get("shared"))
        first = done and bool(request.query_params.get("first"))
        failed_row = next((q for q in pending if q["request_id"] == failed), None)
        return p.render(
            "approvals.html",
            status=status,
            pending=pending,
            error=error,
            failed=failed,
            failed_row=failed_row,
            done=done,
            first=first,
            rejected=rejected,
            shared=shared,
            reasons=approvals.REJECTION_REASONS,
            duplicate_reasons=approvals.DUPLICATE_REASONS,
            form=form or {},  # a form shown again keeps its key (sent once more, the same request)
            described=lambda q: _request_named(q, p),
            reason_missing=reason_missing,
        )

    @api.get("/approvals", response_class=HTMLResponse)
    async def approvals_list(request: Request) -> Response:
        p = await page(request, need=OperatorRole.STAFF)  # payments' rule too; the page is not in others' menu
        return await approvals_page(request, p)

    @api.post("/approvals/{request_id}", response_class=HTMLResponse)
    async def approve(request: Request, request_id: str) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None
        try:
            f = await form_of(request)
            final = await approvals.approve(p.services, request_id, f)
        except desk.FieldErrors as e:  # a possible duplicate without the approver's reason: said at its row
            return await approvals_page(request, p, 422, request_id, e.errors["duplicate_reason"], f)
        except ServiceRefusal as r:  # the requester's own request among them: payments' rule, said at its row
            return await approvals_page(request, p, r.status, request_id, r.reason)
        # the first of two approvals (above the city's threshold) is said as such: the request still waits
        return RedirectResponse("/approvals?done=" + request_id + ("" if final else "&first=1"), status_code=303)

    @api.post("/approvals/{request_id}/rejection", response_class=HTMLResponse)
    async def reject(request: Request, request_id: str) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None
        f = await form_of(request)
        try:
            await approvals.reject(p.services, request_id, f)
        except desk.FieldErrors as e:
            return await approvals_page(request, p, 422, request_id, e.errors["reason"], f, reason_missing=True)
        except ServiceRefusal as r:
            return await approvals_page(request, p, r.status, request_id, r.reason)
        return RedirectResponse("/approvals?rejected=1", status_code=303)

    @api.post("/approvals/{request_id}/shared-payee", response_class=HTMLResponse)
    async def shared_payee(request: Request, request_id: str) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None
        f = await form_of(request)
        try:
            await approvals.mark_shared_payee(p.services, request_id, f)
        except desk.FieldErrors as e:
            return await approvals_page(request, p, 422, request_id, e.errors["label"], f)
        except ServiceRefusal as r:  # already on the list, no bank data: said at its row
            return await approvals_page(request, p, r.status, request_id, r.reason)
        return RedirectResponse("/approvals?shared=1", status_code=303)

    async def shared_payees_page(request: Request, p: Page, status: int = 200, error: str | None = None) -> Response:
        assert p.services is not None
        try:
            payees = await approvals.shared_payees(p.services)
        except ServiceRefusal as r:
            return p.denied(r)
        withdrawn = bool(request.query_params.get("withdrawn"))  # a flag only: no text from the address is shown
        return p.render("shared_payees.html", status=status, payees=payees, error=error, withdrawn=withdrawn)

    @api.get("/shared-payees", response_class=HTMLResponse)
    async def shared_payees_list(request: Request) -> Response:
        return await shared_payees_page(request, await page(request, need=OperatorRole.STAFF))

    @api.post("/shared-payees/{shared_payee_id}/withdrawal", response_class=HTMLResponse)
    async def withdraw_shared_payee(request: Request, shared_payee_id: str) -> Response:
        p = await page(request, csrf_check=True, need=OperatorRole.STAFF)
        assert p.services is not None
        try:
            await approvals.withdraw_shared_payee(p.services, shared_payee_id, await form_of(request))
        except ServiceRefusal as r:  # already taken off (another desk): said on the page
            return await shared_payees_page(request, p, r.status, r.reason)
        return RedirectResponse("/shared-payees?withdrawn=1", status_code=303)

    async def log_entries(
        request: Request, q: LogQuery, limit: int = 500
    ) -> tuple[Page, list[dict[str, Any]], list[str], dict[str, str], list[Operator]]:
        p = await page(request, need=OperatorRole.DPO)
        assert p.op is not None and p.services is not None
        start, before, errors = access_log_domain.period(q.since, q.until)  # a day that is no day: said at its field
        errors |= access_log_domain.person_error(q.person_id)  # a name is no identifier: said, nothing read
        async with request.app.state.pool.acquire() as conn:
            operators = sorted(await store.city_operators(conn, p.op.city), key=lambda o: o.display_name.casefold())
            chosen = next((o for o in operators if o.username == q.operator), None)
            if q.operator and chosen is None:
                errors["operator"] = access_log_domain.NO_SUCH_OPERATOR
            if "person_id" in errors or "operator" in errors:
                return p, [], [], errors, operators
            entries, unread = await access_log_uc.entries(
                conn, p.services, p.op.city, q.person_id or None, q.source, limit, start, before, chosen
            )
        return p, entries, unread, errors, operators

    @api.get("/access-log", response_class=HTMLResponse)
    async def access_log(request: Request, q: Annotated[LogQuery, Depends()]) -> Response:
        p, entries, unread, errors, operators = await log_entries(request, q)
        filters = {k: v or "" for k, v in asdict(q).items()}
        filters["chosen_operator"] = filters.pop("operator")  # `operator` names one by her username on every page
        return p.render(
            "access_log.html",
            status=422 if errors else 200,
            entries=entries,
            errors=errors,
            unread=unread,
            purposes=PURPOSES,
            operators=operators,
            **filters,
        )

    @api.get("/access-log.csv")
    async def access_log_csv(request: Request, q: Annotated[LogQuery, Depends()]) -> Response:
        p, entries, _, _, _ = await log_entries(request, q, limit=100_000)
        out = io.StringIO()
        w = csv.writer(out)
        # In the DPO's language, as her page says it (the time in ISO 8601, sortable; the account beside the name).
        t = p.t.gettext
        w.writerow(
            [t("When"), t("Operator"), t("Account"), t("Person"), t("Purpose"), t("Action"), t("Outcome"), t("Source")]
        )
        for e in entries:
            action = " ".join(x for x in i18n.access_action(e["action"], p.t) if x)
            account = e["operator"] or e["actor"]
            name = (
                p.operator_names.get(account, account)
                if e["operator"]
                else p.actor_names.get(account) or e["actor_name"] or account
            )
            purpose = t(e["purpose"]) if e["purpose"] else "—"
            said = i18n.access_source(e["source"], e["via"], p.t)
            at = access_log_domain.csv_time(e["at"])  # the page's time (Rome's), with its offset
            row = [at, name, account, " ".join(e["persons"]), purpose, action, t(e["outcome"]), said]
            w.writerow([spreadsheet.cell(v) for v in row])  # a partner chose the person's id: never a formula
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="access-log.csv"', **SECURITY_HEADERS},
        )

    @api.get("/access-log/subject/{person_id}", response_class=HTMLResponse)
    async def subject_access(request: Request, person_id: str) -> Response:
        """A person's own access history, printable for a subject-access request (GDPR art. 15): the desk's views
        and the reads through intake's and housing's APIs (housing's of her households), and the downloads of SEPA
        files paying her households (payments'); a service's read made through the desk is in the desk's row of the
        same operator and moment, and every operator is named, another city's too (`subject_access_uc.printout`)."""
        p = await page(request, need=OperatorRole.DPO)
        assert p.op is not None and p.services is not None
        async with request.app.state.pool.acquire() as conn:
            printed = await subject_access_uc.printout(conn, p.services, p.op, person_id)
        return p.render(
            "subject_access.html",
            entries=printed.rows,
            by_username=printed.by_username,
            by_actor=printed.by_actor,
            person_id=person_id,
            printed=datetime.now(UTC),
            unread=printed.unread,
        )

    civic_pages.add_routes(api, page)
    return api


def _page_of(app: FastAPI, path: str) -> str:
    """The page a form's address belongs to: the nearest parent path the desk serves with a GET."""
    parts = path.rstrip("/").split("/")
    while len(parts) > 1:
        parts.pop()
        candidate = "/".join(parts) or "/"
        scope = {"type": "http", "path": candidate, "method": "GET", "root_path": ""}
        if any(route.matches(scope)[0] is Match.FULL for route in app.router.routes):
            return candidate
    return "/"


def _request_named(q: dict[str, Any], p: Page) -> str:
    """A contribution request as an approver tells it from another (a row's buttons' accessible name, a refusal said
    at the page's top): its kind, amount, household (by its reference person, else its id) and period, if any."""
    parts = [
        i18n.code("contribution_kind", q.get("kind"), p.lang),
        i18n.euros(q.get("amount_cents"), p.lang),
        q.get("household_name") or p.t.gettext("household %(id)s") % {"id": q.get("household_id") or "—"},
    ]
    if q.get("period_from"):
        start, end = i18n.day(q["period_from"], p.lang), i18n.day(q.get("period_to"), p.lang)
        parts.append(p.t.gettext("from %(start)s to %(end)s") % {"start": start, "end": end})
    return ", ".join(parts)


def _token_key(settings: DeskSettings) -> bytes:
    from lgnet_shared import pii

    return pii.derive(settings.master_key_bytes(), "desk-service-tokens")


def _kept_key(settings: DeskSettings) -> bytes:
    from lgnet_shared import pii

    return pii.derive(settings.master_key_bytes(), "desk-kept-forms")


def _partner_of(op: Operator) -> str | None:
    """The cooperative a partner's operator acts for; None for the city's staff."""
    return op.partner if op.role is OperatorRole.PARTNER else None


def install(app: FastAPI, settings: DeskSettings) -> None:
    app.include_router(router(settings))

    @app.exception_handler(StarletteHTTPException)
    async def redirect_or_page(request: Request, exc: StarletteHTTPException) -> Response:
        """The desk's own refusals as its pages, in the operator's language (they were plain text or JSON); a form's
        address opened from the address bar (a GET where only its POST exists) leads back to the form's page."""
        if exc.status_code == 303 and exc.headers:
            return RedirectResponse(exc.headers["Location"], status_code=303)
        if exc.status_code == 405 and request.method in ("GET", "HEAD"):
            # A refused form is shown at its POST address, so its language links lead here: the language they ask
            # for goes on to the form's page (which sets it), else the switch did nothing.
            lang = request.query_params.get("lang")
            asked = f"?{urlencode({'lang': lang})}" if lang in i18n.LANGUAGES else ""
            return RedirectResponse(_page_of(app, request.url.path) + asked, status_code=303)
        op, csrf = await session_of(request, settings.idle_minutes) or (None, "")  # the menu, to go on from there
        p = Page(request, op, csrf, None)
        _ = p.t.gettext
        if exc.status_code == 403:
            refused = exc.detail == CSRF_REFUSED
            message = _("The form expired: please try again.") if refused else _("This page is not for your role.")
        elif exc.status_code == 404:
            message = _("Page not found.")
        elif exc.status_code == 405:
            message = _("This address does not take this request.")
        elif exc.status_code == 422 and exc.detail == UNSTORABLE:
            message = _("The address or the form holds a character that cannot be recorded.")
        else:
            message = _("The request could not be served.")
        return p.render("error.html", status=exc.status_code, message=message)

    kept_key = _kept_key(settings)
    app.state.services_run = settings.services

    @app.exception_handler(ServiceNotRun)
    async def not_run(request: Request, exc: ServiceNotRun) -> Response:
        """A page of a service the city does not run: a 404 saying the city does not use it on LgNet (it was a 503
        saying "try again in a moment", for ever), with the menu of what it runs."""
        op, csrf = await session_of(request, settings.idle_minutes) or (None, "")
        return Page(request, op, csrf, None).render("not_run.html", status=404, service=exc.service)

    @app.exception_handler(httpx.HTTPError)
    async def service_away(request: Request, exc: httpx.HTTPError) -> Response:
        """A service that did not answer, or answered 5xx (`ServiceUnavailable`), where the page has nothing else to
        show: a 503 page in the operator's language naming it (it was a 500 with a traceback, in English). A form
        sent is kept for its operator, as after a lapsed session, and the page leads back to it; a form taken back
        on a page that cannot be read now is kept again."""
        op, csrf = await session_of(request, settings.idle_minutes) or (None, "")
        back = None
        if op is not None and request.method == "POST":
            back = await keep_the_form(request, kept_key, op.username, kept_forms.UNAVAILABLE)
        elif op is not None and (taken := getattr(request.state, "taken", None)) and taken[1] is not None:
            async with request.app.state.pool.acquire() as conn:
                back = await keep_for(conn, kept_key, op.username, *taken)
        away = exc.service if isinstance(exc, ServiceUnavailable) else None
        p = Page(request, op, csrf, None)
        return p.render("unavailable.html", status=503, away=away, back=back, sent=request.method == "POST")

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": "desk"}  # as the services' and the notary's: which process answered

    @app.get("/metrics")
    async def prometheus(request: Request) -> Response:
        """Like the services' /metrics: no session, served on the desk's own port to the scraper, which reaches it
        directly; never through the reverse proxy that publishes the pages (it says so: X-Forwarded-For or
        Forwarded), answered as a page that does not exist (docs/operators.md)."""
        if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
            raise HTTPException(404)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health/ready")
    async def ready(request: Request, response: Response) -> dict[str, Any]:
        """As the services': 503 naming the failing check while PostgreSQL does not answer (it was a 500 with
        "Internal Server Error" and a traceback in the log)."""
        checks = {"postgres": "ok"}
        try:
            await db.ping(request.app.state.pool)
        except Exception as exc:
            checks["postgres"] = f"error: {type(exc).__name__}"
        response.status_code, status = http.readiness(checks)
        return {"status": status, "service": "desk", "checks": checks}

    app.state.http = httpx.AsyncClient(verify=tls.http_verify())
    app.state.partners = desk.PartnerDirectory()
