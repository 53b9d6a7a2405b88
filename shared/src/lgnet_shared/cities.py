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
