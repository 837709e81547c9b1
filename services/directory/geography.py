"""Copenhagen's ten districts (bydele), where they lie and which postcodes belong to them,
and the distance between two points: data and arithmetic only, no I/O.

The centroids are approximate public coordinates of each district (the centre points given
for the bydele in their Wikipedia articles and Københavns Kommune's district maps), rounded
to about 100 m: plenty for ranking activities by how far a citizen has to go.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from math import asin, cos, radians, sin, sqrt

EARTH_RADIUS_KM = 6371.0088
"""The mean Earth radius (IUGG), which haversine distances assume."""


@dataclass(frozen=True)
class District:
    name: str
    latitude: float
    longitude: float


INDRE_BY = District("Indre By", 55.6800, 12.5800)
OSTERBRO = District("Østerbro", 55.7100, 12.5800)
NORREBRO = District("Nørrebro", 55.6960, 12.5490)
VESTERBRO_KONGENS_ENGHAVE = District("Vesterbro/Kongens Enghave", 55.6620, 12.5400)
VALBY = District("Valby", 55.6600, 12.5050)
VANLOSE = District("Vanløse", 55.6880, 12.4880)
BRONSHOJ_HUSUM = District("Brønshøj-Husum", 55.7060, 12.4920)
BISPEBJERG = District("Bispebjerg", 55.7100, 12.5350)
AMAGER_OST = District("Amager Øst", 55.6580, 12.6150)
AMAGER_VEST = District("Amager Vest", 55.6420, 12.5750)

DISTRICTS = (
    INDRE_BY,
    OSTERBRO,
    NORREBRO,
    VESTERBRO_KONGENS_ENGHAVE,
    VALBY,
    VANLOSE,
    BRONSHOJ_HUSUM,
    BISPEBJERG,
    AMAGER_OST,
    AMAGER_VEST,
)

_ALIASES = {
    # Halves and neighbourhoods people (and the demo data) name instead of the district.
    "Vesterbro": VESTERBRO_KONGENS_ENGHAVE,
    "Kongens Enghave": VESTERBRO_KONGENS_ENGHAVE,
    "Sydhavnen": VESTERBRO_KONGENS_ENGHAVE,
    "Christianshavn": INDRE_BY,
    "Nordhavn": OSTERBRO,
    "Nordvest": BISPEBJERG,
    "Brønshøj": BRONSHOJ_HUSUM,
    "Husum": BRONSHOJ_HUSUM,
    "Islands Brygge": AMAGER_VEST,
    "Ørestad": AMAGER_VEST,
    # The demo data's "Amager" is Amagerbrogade, in Amager Øst.
    "Amager": AMAGER_OST,
}

# Postcodes do not follow district borders; each maps to the district that holds most of it.
# 1800-2000 are Frederiksberg, its own municipality; 2300 (København S) is split about evenly
# between Amager Øst and Amager Vest, so it names no district.
_POSTCODE_RANGES = (
    (1000, 1499, INDRE_BY),  # København K, Christianshavn included
    (1500, 1799, VESTERBRO_KONGENS_ENGHAVE),  # København V
    (2100, 2100, OSTERBRO),  # København Ø
    (2150, 2150, OSTERBRO),  # Nordhavn
    (2200, 2200, NORREBRO),  # København N
    (2400, 2400, BISPEBJERG),  # København NV
    (2450, 2450, VESTERBRO_KONGENS_ENGHAVE),  # København SV: Kongens Enghave
    (2500, 2500, VALBY),
    (2700, 2700, BRONSHOJ_HUSUM),
    (2720, 2720, VANLOSE),
)


def fold(text: str) -> str:
    """Case, accents and Danish letters folded, punctuation as spaces: 'Nørrebro',
    'norrebro' and 'NOERREBRO' all read 'norrebro'."""
    text = text.casefold().replace("æ", "ae").replace("ø", "o").replace("oe", "o")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.split(r"[^a-z0-9]+", text)).strip()


_BY_NAME = {fold(d.name): d for d in DISTRICTS} | {fold(k): d for k, d in _ALIASES.items()}


def district_for_postcode(postcode: str) -> District | None:
    """The district a Copenhagen postcode lies in; None outside the city or when split."""
    code = postcode.strip()
    if not (code.isascii() and code.isdigit()):
        return None
    number = int(code)
    return next((d for low, high, d in _POSTCODE_RANGES if low <= number <= high), None)


def district_named(name: str) -> District | None:
    """The district a name (or a postcode) means, whatever its case and accents."""
    return _BY_NAME.get(fold(name)) or district_for_postcode(name)


def haversine_km(lat_1: float, lon_1: float, lat_2: float, lon_2: float) -> float:
    """The great-circle distance between two points, in kilometres."""
    d_lat, d_lon = radians(lat_2 - lat_1), radians(lon_2 - lon_1)
    a = sin(d_lat / 2) ** 2 + cos(radians(lat_1)) * cos(radians(lat_2)) * sin(d_lon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(sqrt(a))


# The centres of the city's postcodes (and Frederiksberg's, inside it), roughly where most
# of their addresses are: where a search "within 2 km of 2200" measures from.
_POSTCODE_CENTRES = {
    "1050": (55.6795, 12.5860),  # København K, Kongens Nytorv
    "1100": (55.6790, 12.5790),
    "1200": (55.6770, 12.5830),
    "1300": (55.6840, 12.5840),
    "1400": (55.6730, 12.5930),  # Christianshavn
    "1500": (55.6720, 12.5620),  # København V
    "1600": (55.6750, 12.5610),
    "1700": (55.6700, 12.5530),
    "2000": (55.6800, 12.5300),  # Frederiksberg
    "2100": (55.7060, 12.5780),  # København Ø
    "2150": (55.7190, 12.5950),  # Nordhavn
    "2200": (55.6960, 12.5490),  # København N
    "2300": (55.6550, 12.6000),  # København S
    "2400": (55.7100, 12.5300),  # København NV
    "2450": (55.6500, 12.5400),  # København SV
    "2500": (55.6620, 12.5050),  # Valby
    "2700": (55.7060, 12.4920),  # Brønshøj
    "2720": (55.6880, 12.4880),  # Vanløse
}


def postcode_centre(postcode: str) -> tuple[float, float] | None:
    """Latitude and longitude of a Copenhagen postcode's centre: its own, else the centre
    of the range it belongs to (1000-1499 as 1050-1400 by hundreds), else None."""
    code = postcode.strip()
    if code in _POSTCODE_CENTRES:
        return _POSTCODE_CENTRES[code]
    if len(code) == 4 and code.isdigit() and 1000 <= int(code) < 1800:
        return _POSTCODE_CENTRES.get(f"{code[:2]}00") or _POSTCODE_CENTRES["1050"]
    return None
