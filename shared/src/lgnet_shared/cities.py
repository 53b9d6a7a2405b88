"""The 16 cities of the national FAMI programme (DESIGN section 1) and the national level: deployments, actors
and principals name one of them. Its own module so that tools without the service runtime can import it."""

import functools
import os

CITIES = (
    "bologna",
    "bolzano",
    "caserta",
    "firenze",
    "genova",
    "latina",
    "milano",
    "napoli",
    "palermo",
    "perugia",
    "potenza",
    "roma",
    "sassari",
    "taranto",
    "torino",
    "trieste",
)
NATIONAL = "national"  # the national coordination's deployment: every city's events


LEGACY_VAR = "LGNET_LEGACY_DEPLOYMENTS"


def legacy_deployments(value: str | None = None) -> dict[str, str]:
    """Deployments named before a name said its city, each with the city the operator declares for it
    (`north=torino,test=national`, LGNET_LEGACY_DEPLOYMENTS; `value` instead of the environment's). The operator
    declares it on every deployment and gives it to the auditors, as it provisions names. ValueError naming the
    variable for a bad declaration."""
    return _parsed(os.environ.get(LEGACY_VAR, "") if value is None else value)


@functools.lru_cache(maxsize=8)
def _parsed(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, city = (p.strip() for p in item.partition("="))
        if not sep or not name:
            raise ValueError(f"{LEGACY_VAR}: {item!r} is not <deployment>=<city>")
        if city not in (*CITIES, NATIONAL):
            raise ValueError(f"{LEGACY_VAR}: {city!r} is not one of the 16 cities or {NATIONAL}")
        if name in out:
            raise ValueError(f"{LEGACY_VAR}: {name!r} is declared twice")
        if _conforming(name) is not None:
            raise ValueError(f"{LEGACY_VAR}: {name!r} already names a city's deployment (its city is its name's)")
        out[name] = city
    return out


def city_of(deployment: str) -> str | None:
    """The city a deployment serves, read off its name: the city itself (`torino`, `national`) or the city, a hyphen
    and a suffix (`torino-north`, `national-2`); an older name the operator declared (`legacy_deployments`); None
    for any other name. The cluster's operator provisions the name (`lgnet-kafka-admin add-deployment`), so it,
    unlike a city a deployment declares about itself (e.g. in its signing-key record), cannot be chosen by the
    deployment."""
    return _conforming(deployment) or legacy_deployments().get(deployment)


def _conforming(deployment: str) -> str | None:
    city = deployment.split("-", 1)[0]
    return city if city in CITIES or city == NATIONAL else None


def deployment_rule(deployment: str, city: str) -> str | None:
    """Why `deployment` cannot be a deployment of `city`, or None when it can."""
    if city_of(deployment) == city:
        return None
    return f"{deployment!r} is not a deployment of {city}: name it {city} or {city}-<suffix> (e.g. {city}-north)"
