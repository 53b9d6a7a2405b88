"""The city's housing catalogue at the desk: its opportunities (each with the state of the match that holds it), one
listed, changed or withdrawn, and the city-wide matching run now. Every rule is housing's (who lists for which
partner, what a change may do to a household's match, who may run the matching): one call each, as the operator,
with the form's key."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from lgnet_desk.adapters.services import Services, service_path
from lgnet_desk.domain import resubmission
from lgnet_desk.domain.money import cents_of
from lgnet_desk.service_layer import desk

RESTRICTIONS = ("women_only", "men_only", "families_only", "singles_only", "no_minors")  # housing's `Restriction`
WITHDRAWAL_REASONS = ("no_longer_available", "let_to_others", "not_suitable", "other")  # codes the desk offers
# housing's field → the form's (a refusal is said at the form's field; an unknown one at the first)
LISTING = {
    "kind": "kind", "partner": "partner", "capacity": "capacity", "bedrooms": "bedrooms",
    "monthly_rent_cents": "rent", "available_from": "available_from", "available_until": "available_until",
    "support_level": "support_level", "restrictions": "restrictions", "area": "area", "languages": "languages",
    "accessible": "accessible", "opportunity_id": "kind",
}  # fmt: skip
CHANGE = {
    "monthly_rent_cents": "new_rent", "available_until": "new_until", "capacity": "new_capacity",
    "clear": "new_until", "above_affordable": "new_rent", "opportunity_id": "new_rent",
}  # fmt: skip


async def catalogue(services: Services) -> list[dict[str, Any]]:
    """The city's opportunities as housing lists them: open ones first, each by the day it is available from."""
    listed: list[dict[str, Any]] = await services.get("housing", "/opportunities")
    return sorted(listed, key=lambda o: (o["status"] != "open", o["available_from"], o["opportunity_id"]))


def _number(text: str) -> int | str:
    """A count as typed; anything else is passed on for housing to name the field."""
    return int(text) if text.strip().isdigit() else text


def area_code(text: str) -> str | None:
    """An area as housing codes it ("Borgo Vittoria" → "borgo-vittoria"): the pages show it back in words."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "-".join(re.findall(r"[a-z0-9]+", plain)) or None


def _languages(text: str) -> list[str]:
    return [code.strip().lower() for code in text.replace(";", ",").split(",") if code.strip()]


async def list_opportunity(services: Services, form: dict[str, str], restrictions: list[str]) -> str:
    """An opportunity listed for the partner that owns it (a cooperative's operator: her own), its id made from the
    form's key (the form sent twice: one opportunity). Its id."""
    key = resubmission.call_key(form, "opportunity")
    opportunity_id = desk.new_id("opp", key)
    body = {
        "opportunity_id": opportunity_id,
        "partner": form.get("partner", "").strip() or None,
        "kind": form.get("kind", ""),
        "capacity": _number(form.get("capacity", "")),
        "bedrooms": _number(form.get("bedrooms", "")),
        "accessible": bool(form.get("accessible")),
        "monthly_rent_cents": cents_of(form.get("rent", "")),
        "available_from": form.get("available_from", "").strip() or None,
        "available_until": form.get("available_until", "").strip() or None,
        "support_level": form.get("support_level", "") or None,
        "restrictions": restrictions,
        "area": area_code(form.get("area", "")),
        "languages": _languages(form.get("languages", "")),
    }
    await desk.submit(services, "housing", "/opportunities", body, LISTING, key)
    return opportunity_id


async def change(services: Services, opportunity_id: str, form: dict[str, str]) -> None:
    """Only what was filled in changes (housing's PATCH); "open-ended" clears the last day."""
    body: dict[str, Any] = {
        "monthly_rent_cents": cents_of(form["new_rent"]) if form.get("new_rent", "").strip() else None,
        "capacity": _number(form["new_capacity"]) if form.get("new_capacity", "").strip() else None,
        "available_until": form.get("new_until", "").strip() or None,
        "clear": ["available_until"] if form.get("open_ended") else [],
        "above_affordable": bool(form.get("above_affordable")),
    }
    path = service_path("/opportunities/{}", opportunity_id)
    await desk.submit(services, "housing", path, body, CHANGE, resubmission.call_key(form, "change"), "PATCH")


async def withdraw(services: Services, opportunity_id: str, form: dict[str, str]) -> None:
    path = service_path("/opportunities/{}/withdrawal", opportunity_id)
    body = {"reason": form.get("reason", "")}
    await desk.submit(services, "housing", path, body, {"reason": "reason"}, resubmission.call_key(form, "withdrawal"))


async def run_matching(services: Services, form: dict[str, str]) -> dict[str, Any]:
    """The city-wide matching now: the proposals made and why the other households got none."""
    made: dict[str, Any] = await services.post("housing", "/matching/runs", None, resubmission.call_key(form, "run"))
    return made


# ------------------------------------------------------------ the city's matching rules (staff)

OPTIONAL_RULES = (
    "availability", "bedrooms", "no_minors", "women_only", "men_only", "families_only", "singles_only",
    "accessibility", "specialist_support", "affordability",
)  # fmt: skip  # housing's ALL_RULES but `city` and `capacity`, which always apply
COUNTS = ("max_people_per_bedroom", "availability_horizon_days", "stalled_after_days", "max_hold_days")
WEIGHTS = ("vulnerability", "urgency", "waiting_per_month", "minors")  # of `priority`: the others are kept as read
RULE_FIELDS = {
    **{k: k for k in COUNTS}, "hard_rules": "hard_rules", "rent_share_of_income": "rent_share",
    "planned_contribution_cents": "planned_contribution", "auto_match": "auto_match", "version": "rules",
    **{f"priority.{w}": f"priority_{w}" for w in WEIGHTS},
}  # fmt: skip


async def rules(services: Services) -> dict[str, Any]:
    found: dict[str, Any] = await services.get("housing", "/rules")
    return found


def _decimal(text: str) -> float | str:
    """A number as typed in Italy ("2,5"); anything else is passed on for housing to name the field."""
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return text


async def save_rules(services: Services, form: dict[str, str], hard_rules: list[str]) -> None:
    """The whole of the rules as housing has them, changed where the form says, over the version the page showed:
    had anyone saved them since, housing refuses (412) rather than the form undoing their change unseen. The
    weights the form does not show (the housing situations', the fit's) are sent back as read."""
    current = await rules(services)
    body = {k: v for k, v in current.items() if k not in ("city", "version")}
    share = _decimal(form.get("rent_share", ""))
    body |= {k: _number(form.get(k, "")) for k in COUNTS} | {
        "hard_rules": hard_rules,
        "rent_share_of_income": share / 100 if isinstance(share, float) else share,
        "planned_contribution_cents": cents_of(form.get("planned_contribution", "") or "0"),
        "auto_match": bool(form.get("auto_match")),
        "priority": current["priority"] | {w: _decimal(form.get(f"priority_{w}", "")) for w in WEIGHTS},
    }
    shown = form.get("rules_version", "")
    body["version"] = int(shown) if shown.isdigit() else current["version"]
    await desk.submit(services, "housing", "/rules", body, RULE_FIELDS, resubmission.call_key(form, "rules"), "PUT")
