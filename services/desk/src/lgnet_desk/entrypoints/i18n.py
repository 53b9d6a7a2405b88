"""Italian first, English available: Babel gettext catalogues (locale/<lang>/LC_MESSAGES/desk.po, compiled when
loaded), dates and euro amounts in the locale's format, domain codes through lgnet_shared.vocabulary."""

from __future__ import annotations

import functools
import io
from datetime import date, datetime
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_time, get_datetime_format, get_timezone
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations
from babel.units import format_unit
from lgnet_shared import vocabulary

from lgnet_desk.domain import refusals

LANGUAGES = ("it", "en")
DEFAULT = "it"
BABEL_LOCALE = {"it": "it_IT", "en": "en_GB"}
TIMEZONE = "Europe/Rome"


@functools.cache
def translations(lang: str) -> Translations:
    po = resources.files("lgnet_desk").joinpath(f"locale/{lang}/LC_MESSAGES/desk.po")
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain="desk")


def language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else DEFAULT


def day(value: Any, lang: str) -> str:
    """A date as the locale writes it ('2 mar 2026'); a time (a note's, a document's: UTC, with its zone) on its day
    in Rome: its first ten characters gave the UTC day, a day early for a note written after midnight in Rome."""
    if not value:
        return "—"
    d = (
        (datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value))
        if isinstance(value, str)
        else value
    )
    if isinstance(d, datetime):
        d = d.astimezone(get_timezone(TIMEZONE)).date() if d.tzinfo else d.date()
    return str(format_date(d, format="medium", locale=BABEL_LOCALE[lang]))


def moment(value: datetime, lang: str, *, seconds: bool = False) -> str:
    """A date and time of day in Rome, as the locale writes them ('2 mar 2026, 10:00'); seconds only where they
    matter (the access log a data-protection officer reads), not on an appointment."""
    locale, tz = BABEL_LOCALE[lang], get_timezone(TIMEZONE)
    if seconds:
        return str(format_datetime(value, format="medium", tzinfo=tz, locale=locale))
    pattern = str(get_datetime_format("medium", locale=locale))
    local = value.astimezone(tz)
    return pattern.replace("{1}", str(format_date(local.date(), format="medium", locale=locale))).replace(
        "{0}", time_of_day(value, lang)
    )


def time_of_day(value: datetime, lang: str) -> str:
    """Hours and minutes in Rome ('10:00')."""
    return str(format_time(value, format="short", tzinfo=get_timezone(TIMEZONE), locale=BABEL_LOCALE[lang]))


def euros(cents: int | None, lang: str) -> str:
    if cents is None:
        return "—"
    return str(format_currency(cents / 100, "EUR", locale=BABEL_LOCALE[lang]))


def points(value: float, lang: str) -> str:
    """A score's points in the locale's way, at most two decimals ('7,5', '0,1', '0')."""
    return str(format_decimal(value, format="#,##0.##", locale=BABEL_LOCALE[lang]))


def size(size_bytes: int | None, lang: str) -> str:
    """A file's size as people say it: bytes below 1 kB, else kB or MB with one decimal in the locale's way
    ('1,5 kB'); a 17-byte file read '0.0 kB'."""
    if size_bytes is None:
        return "—"
    locale = BABEL_LOCALE[lang]
    if size_bytes < 1024:
        return str(format_unit(size_bytes, "digital-byte", length="short", locale=locale))
    unit, amount = (
        ("digital-kilobyte", size_bytes / 1024) if size_bytes < 1024**2 else ("digital-megabyte", size_bytes / 1024**2)
    )
    return str(format_unit(amount, unit, length="short", format="#,##0.#", locale=locale))


def reason(text: str, lang: str) -> str:
    """A service's refusal in the operator's language, its amounts in cents said in euros ('120,00 €', '€120.00') and
    its dates as the pages say them ('1 nov 2026')."""
    return refusals.say(text, lang, money=lambda cents: euros(cents, lang), day=lambda d: day(d, lang))


def country(iso: str | None, lang: str) -> str:
    """A nationality (ISO 3166-1 alpha-2) as the country's name in the page's language ('SN' → 'Senegal'); a code
    babel does not know shows as itself."""
    if not iso:
        return "—"
    return str(Locale.parse(BABEL_LOCALE[lang]).territories.get(iso.upper(), iso))


def languages(codes: list[str] | None, lang: str) -> str:
    """Languages (ISO 639 codes) by their names in the page's language ('ar', 'fr' → 'arabo, francese'); a code babel
    does not know shows as itself."""
    if not codes:
        return "—"
    names = Locale.parse(BABEL_LOCALE[lang]).languages
    return ", ".join(str(names.get(c, c)) for c in codes)


def code(list_name: str, value: str | None, lang: str) -> str:
    """A domain code's label, never the raw code (an unknown list or code shows as itself)."""
    if value is None:
        return "—"
    try:
        return vocabulary.label(list_name, value, lang)
    except KeyError:
        return value


def codes(list_name: str, lang: str) -> list[tuple[str, str]]:
    entries = vocabulary.code_list(list_name).entries
    return [(c, vocabulary.label(list_name, c, lang)) for c in entries]


def ended(text: str) -> str:
    """A refusal said as the end of a sentence (after "Il servizio ha rifiutato:"): with its full stop. Refusals are
    written as fragments, to sit next to a field."""
    text = text.rstrip()
    return text if not text or text[-1] in ".!?…" else f"{text}."


def sentence(text: str) -> str:
    """A refusal said alone, as a page's alert: a capital and a full stop ("Indichi un nome, …."); next to a field it
    stays a fragment."""
    text = ended(text)
    return text[:1].upper() + text[1:]


# What an access-log entry looked at (access_log.action), as the DPO's page and its CSV say it: a fixed action, or one
# naming an id (a document, the cartella a household member was shown in), the id kept.
def _(message: str) -> str:
    """A message id the catalogues pick up (tools/catalogues.py), translated where it is said."""
    return message


ACCESS_ACTIONS = {
    "cartella": _("Social record"),
    "privacy notice": _("Privacy notice"),
    "household forming": _("Registration form of a household, with the person in it"),
    "street person": _("Street person"),
    "housing": _("Household's housing steps"),
    "approvals": _("Contribution approvals"),
    "agenda": _("Agenda"),
    "to-do": _("To do"),
    "search": _("Search results"),
    "civic register": _("Attendance register of a civic activity"),
    "civic activity": _("Certificates of a civic activity"),
    # a data subject's erasure (GDPR art. 17, domain/erasure.py): its confirmation page's view, and the erasure
    "erasure form": _("Erasure of the data: confirmation page"),
    "erasure": _("Erasure of the data (GDPR art. 17)"),
    "street person erasure form": _("Erasure of the nickname: confirmation page"),
    "street person erasure": _("Erasure of the nickname (GDPR art. 17)"),
}
# Intake's read log (reads through its API: docs/desk.md, "Access log"), by the kind of read.
ACCESS_ACTIONS |= {
    "api person": _("Person (API)"),
    "api record": _("Social record (API)"),
    "api notes": _("Diary (API)"),
    "api documents": _("Documents (API)"),
    "api document": _("Document download (API)"),
    "api search": _("Search results (API)"),
    "api case": _("Case (API)"),
    "api street_person": _("Street person (API)"),
}
ACCESS_SOURCES = {
    "desk": _("Desk"),
    "intake": _("Intake API"),
    "housing": _("Housing API"),
    "payments": _("Payments API"),
}
# A form of the cartella sent (the last part of its address): the section that shows what it recorded, where the page
# opens, and what it says there (the page opened at its top, saying nothing: operators scrolled down to check).
# Housing's restrictions on who may live in an opportunity, and the reasons the desk offers for withdrawing one
# (housing takes any code: these are the catalogue page's).
RESTRICTIONS = {
    "women_only": _("women only"),
    "men_only": _("men only"),
    "families_only": _("families only"),
    "singles_only": _("single persons only"),
    "no_minors": _("no minors"),
}
HARD_RULES = {  # the rules a city may switch off (housing's ALL_RULES but the city and the capacity)
    "availability": _("available within the horizon"),
    "bedrooms": _("enough bedrooms"),
    "no_minors": _("housing without minors"),
    "women_only": _("housing for women only"),
    "men_only": _("housing for men only"),
    "families_only": _("housing for families only"),
    "singles_only": _("housing for single persons only"),
    "accessibility": _("accessible housing for who needs it"),
    "specialist_support": _("a specialist team for who needs it"),
    "affordability": _("a rent the household can afford"),
}
WITHDRAWALS = {
    "no_longer_available": _("no longer available"),
    "let_to_others": _("let to others"),
    "not_suitable": _("not suitable"),
    "other": _("other reason"),
}

CARTELLA_DONE = {
    "cases": ("h-cases", _("Case opened.")),
    "assessments": ("h-cases", _("Assessment recorded.")),
    "plans": ("h-cases", _("Plan recorded.")),
    "objectives": ("h-cases", _("Objective updated.")),
    "employment": ("h-timeline", _("Employment recorded.")),
    "details": ("h-person", _("The person's data saved.")),
    "member-left": ("h-household", _("The member's leaving recorded.")),
    "member-joined": ("h-household", _("The person joined the household.")),
    "member-new": ("h-household", _("The new member registered and joined the household.")),
    "reference-person": ("h-household", _("The household's reference person changed.")),
    "referrals": ("h-referrals", _("Referral recorded.")),
    "referral-outcome": ("h-referrals", _("Referral outcome recorded.")),
    "transfer": ("h-cases", _("Case transferred.")),
    "closures": ("h-cases", _("Case closed.")),
    "contributions": ("h-contributions", _("Contribution requested.")),
    "payee": ("h-contributions", _("Bank data saved.")),
    "vouchers": ("h-vouchers", _("Voucher issued.")),
    "tutoring": ("h-tutoring", _("Tutoring session recorded.")),
    "notes": ("h-diary", _("Note added.")),
    "documents": ("h-documents", _("Document uploaded.")),
    "note-withdrawn": ("h-diary", _("Note withdrawn: its text is destroyed.")),
    "document-withdrawn": ("h-documents", _("Document withdrawn: its content is destroyed.")),
    "consents": ("h-consent", _("Consent recorded.")),
}
# A household's housing step just taken (housing_web's redirect `?done=`): said at the page's top, as the cartella's.
HOUSING_DONE = {
    "acceptance": _("Proposal accepted."),
    "decline": _("Proposal declined."),
    "placement": _("Placement started."),
    "end": _("Placement ended."),
    "lease": _("Lease recorded."),
    "hold": _("Household put on hold."),
    "release": _("Hold ended."),
}
# The agenda just changed (outreach_web's redirect `?done=`): said at its top.
AGENDA_DONE = {
    "book": _("Appointment booked."),
    "move": _("Appointment moved."),
    "cancel": _("Appointment cancelled."),
    "outcome": _("Outcome recorded."),
}
ACCESS_ACTIONS_WITH_ID = {
    "document ": _("Document"),
    "member of ": _("Social record of a household member"),
    "sepa file ": _("SEPA payment file (payees' names and IBANs)"),
    "api sepa file ": _("SEPA payment file (API)"),
    # payments' read log: a contribution request's payee read (a landlord, a company, a member), with the request's id
    "api payee ": _("A contribution request's payee (name, masked IBAN) (API)"),
    "api iban masked ": _("A contribution request's payee's IBAN, masked (API)"),
    # housing's read log: what was read of a household, with its id
    "api housing waiting_list ": _("The waiting list, showing the household (API)"),
    "api housing household ": _("The household's place on the waiting list (API)"),
    "api housing why ": _("Why the household is not matching (API)"),
    "api housing matches ": _("Housing proposals, showing the household's (API)"),
    "api housing match ": _("A housing proposal for the household (API)"),
    "api housing reminders ": _("Housing reminders, showing the household's (API)"),
    "api housing matching_run ": _("The city's matching run, showing the household (API)"),
}


# The payee's bank's reasons for refusing a transfer that payments makes wait for new bank data (its
# PAYEE_ACCOUNT_REASONS): said in words; another code as the bank gave it.
BANK_REFUSALS = {
    "ac01": _("wrong account number"),
    "ac03": _("wrong account number"),
    "ac04": _("account closed"),
    "ac06": _("account blocked"),
    "ag01": _("operation not allowed on the account"),
    "be04": _("payee's address missing or wrong"),
    "md07": _("payee deceased"),
    "rc01": _("wrong BIC"),
}


def bank_refusal(reason: str | None, t: Translations) -> str:
    label = BANK_REFUSALS.get(reason or "")
    return t.gettext(label) if label else (reason or "").upper()


def access_source(source: str, via: str | None, t: Translations) -> str:
    """Where an entry comes from: the desk's own log, or intake's (a read the desk says it made: "through the desk")."""
    said = t.gettext(ACCESS_SOURCES.get(source, source))
    return f"{said} ({t.gettext('through the desk')})" if via == "desk" else said


# What was looked at, as the printout handed to the person says it (GDPR art. 15: what of hers, not the desk's pages
# nor the services' kinds, and no internal id: a document's, a household's, a payment file's), by the action's start
# (the longest first: `api sepa file ` before `api `); an action not here as the DPO's log says it, without its id.
SUBJECT_ACTIONS = {
    "cartella": _("Your social record"),
    "api record": _("Your social record"),
    "member of ": _("The social record of a member of your household, which shows you too"),
    "document ": _("One of your documents"),
    "api document": _("One of your documents"),
    "api documents": _("The list of your documents"),
    "api notes": _("The diary notes about you"),
    "api person": _("Your personal details"),
    "api case": _("Your case"),
    "privacy notice": _("The privacy notice given to you"),
    "household forming": _("The form putting you in a household"),
    "street person": _("Your record from the street outreach"),
    "api street_person": _("Your record from the street outreach"),
    "housing": _("Your household's search for housing"),
    "api housing ": _("Your household's search for housing"),
    "approvals": _("The contributions waiting for approval, your household's among them"),
    "agenda": _("The appointments diary, with your appointment"),
    "to-do": _("The operators' to-do list, naming you"),
    "search": _("The results of a search, naming you"),
    "api search": _("The results of a search, naming you"),
    "civic register": _("The attendance register of a civic activity"),
    "civic activity": _("The certificates of a civic activity"),
    "sepa file ": _("A bank payment file, with the name and IBAN of whoever is paid for your household"),
    "api sepa file ": _("A bank payment file, with the name and IBAN of whoever is paid for your household"),
    "api payee ": _("The name and IBAN (masked) of whoever is paid for your household"),
    "api iban masked ": _("The IBAN (masked) of whoever is paid for your household"),
}
SUBJECT_OUTCOMES = {"shown": _("access allowed"), "denied": _("access refused")}


def subject_action(action: str, t: Translations) -> str:
    """What an access-log entry looked at, as the printout for the person says it (`SUBJECT_ACTIONS`)."""
    if said := SUBJECT_ACTIONS.get(action):
        return t.gettext(said)
    for prefix in sorted((k for k in SUBJECT_ACTIONS if k.endswith(" ")), key=len, reverse=True):
        if action.startswith(prefix):
            return t.gettext(SUBJECT_ACTIONS[prefix])
    return access_action(action, t)[0]


def subject_how(source: str, via: str | None, t: Translations) -> str:
    """How it was looked at, for the person: at the desk (its own log, or a service's read the desk made), or by an
    organisation's own software through a service's API."""
    return t.gettext("at the desk") if source == "desk" or via == "desk" else t.gettext("by an organisation's software")


def access_action(action: str, t: Translations) -> tuple[str, str]:
    """(what was looked at, the id it names or ""), in the reader's language; an action unknown here as stored."""
    for prefix, label in ACCESS_ACTIONS_WITH_ID.items():
        if action.startswith(prefix):
            return t.gettext(label), action[len(prefix) :]
    fixed = ACCESS_ACTIONS.get(action)
    return (t.gettext(fixed), "") if fixed else (action, "")
