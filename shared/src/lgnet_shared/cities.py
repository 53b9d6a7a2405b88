"""The 16 cities of the national FAMI programme (DESIGN section 1) and the national level: deployments, actors
and principals name one of them. Its own module so that tools without the service runtime can import it."""

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


def city_of(deployment: str) -> str | None:
    """The city a deployment serves, read off its name: the city itself (`torino`, `national`) or the city, a hyphen
    and a suffix (`torino-north`, `national-2`); None for a name that follows no city. The cluster's operator
    provisions the name (`lgnet-kafka-admin add-deployment`), so it, unlike a city a deployment declares about
    itself (e.g. in its signing-key record), cannot be chosen by the deployment."""
    city = deployment.split("-", 1)[0]
    return city if city in CITIES or city == NATIONAL else None


def deployment_rule(deployment: str, city: str) -> str | None:
    """Why `deployment` cannot be a deployment of `city`, or None when it can."""
    if city_of(deployment) == city:
        return None
    return f"{deployment!r} is not a deployment of {city}: name it {city} or {city}-<suffix> (e.g. {city}-north)"
