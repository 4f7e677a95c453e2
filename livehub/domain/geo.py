"""Great-circle distance (pure): the one haversine and the one earth radius livehub uses.

The radius is Redis GEO's sphere (``geohelper.c``), not the 6371 km mean
radius, so the distances routing computes in Python and the ones GEOSEARCH
answers agree to the metre; the demo generator measures on the same sphere.
"""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6372.7975608  # Redis GEO's sphere (geohelper.c)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two WGS84 points on :data:`EARTH_RADIUS_KM`."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
