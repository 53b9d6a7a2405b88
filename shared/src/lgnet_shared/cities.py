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
NATIONAL = "national"  # the national coordination's deployment: every city's events (of the programme's cities)


PROGRAMME_VAR = "LGNET_PROGRAMME_CITIES"


def programme_cities(value: str | None = None) -> tuple[str, ...]:
    """The cities taking part on this cluster (LGNET_PROGRAMME_CITIES, e.g. `torino,trieste` for a pilot; `value`
    instead of the environment's), in the registry's order; all 16 when unset. A national deployment serves these:
    their inbound topics are made, granted and read, no other's. The same on every deployment and in
    lgnet-kafka-admin's environment. ValueError naming the variable for a bad list."""
    return _programme(os.environ.get(PROGRAMME_VAR, "") if value is None else value)


@functools.lru_cache(maxsize=8)
def _programme(value: str) -> tuple[str, ...]:
    if not value:
        return CITIES
    names = [part.strip().lower() for part in value.split(",")]
    if not any(names):
        raise ValueError(f"{PROGRAMME_VAR}: {value!r} names no city (unset it for all 16)")
    for name in filter(None, names):
        if name not in CITIES:
            raise ValueError(f"{PROGRAMME_VAR}: {name!r} is not one of the 16 cities ({', '.join(CITIES)})")
        if names.count(name) > 1:
            raise ValueError(f"{PROGRAMME_VAR}: {name!r} is named twice")
    return tuple(c for c in CITIES if c in names)


SERVED_VAR = "LGNET_SERVED_CITIES"


def served_cities(value: str | None = None) -> tuple[str, ...]:
    """The cities a national deployment of intake, housing or payments runs the service for (LGNET_SERVED_CITIES, or
    `value`): by default every city taking part; an operator leaves out a city that runs its own deployment of the
    service, so that two deployments never act on one city's records. ValueError naming the variable for a list
    that names no city, a city twice, or one outside the programme."""
    raw = os.environ.get(SERVED_VAR, "") if value is None else value
    if not raw.strip():
        return programme_cities()
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    taking_part = programme_cities()
    for name in names:
        if name not in taking_part:
            raise ValueError(f"{SERVED_VAR}: {name!r} is not a city taking part ({', '.join(taking_part)})")
        if names.count(name) > 1:
            raise ValueError(f"{SERVED_VAR}: {name!r} is named twice")
    return tuple(c for c in taking_part if c in names)


def outside_programme(city: str | None, value: str | None = None) -> str | None:
    """Why a party of `city` cannot take part on this cluster, or None (national, no city, or a programme city)."""
    taking_part = programme_cities(value)
    if city is None or city == NATIONAL or city in taking_part:
        return None
    return f"{city} does not take part on this cluster ({PROGRAMME_VAR}={','.join(taking_part)})"


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
