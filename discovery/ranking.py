"""How results are ordered: four factors in [0, 1], weighted and summed (docs/search.md explains each).

- text: PostgreSQL's cover density rank of the document against the query,
  normalised to rank / (rank + 1) (weights A name and modalities, B offerings
  and place, C bio); 0 without a query.
- distance: 1 / (1 + km / DISTANCE_SCALE_KM): 1 at the point, 0.5 at 10 km; 0
  without a point or a location.
- rating: the Bayesian average over 5: (PRIOR_WEIGHT * PRIOR_MEAN + sum of
  ratings) / (PRIOR_WEIGHT + count), so one 5-star review (4.17) ranks below
  fifty 4.8s (4.73).
- soonest: 1 / (1 + hours until the first free slot / 24), only when the
  search asks for a free slot (`free_within_days`); 0 otherwise. Its input is
  the first free slot recorded on the search row (kept by the job
  `search.first_free`, which runs the booking's slot finder), so it orders the
  whole result in SQL; the filter itself is decided at query time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.discovery import EARTH_RADIUS_KM, Weights

TEXT, DISTANCE, RATING, SOONEST = 0.45, 0.2, 0.2, 0.15
DISTANCE_SCALE_KM = 10.0
PRIOR_MEAN, PRIOR_WEIGHT = 4.0, 5.0
FIRST_FREE_WITHIN = timedelta(days=42)  # how far the recorded first free slot is looked for: free_within_days' most

WEIGHTS = Weights(
    text=TEXT, distance=DISTANCE, rating=RATING, soonest=SOONEST, distance_scale_km=DISTANCE_SCALE_KM,
    prior_mean=PRIOR_MEAN, prior_weight=PRIOR_WEIGHT,
)


def bayesian_rating(count: int, total: int) -> float:
    """The rating shown in ranking: the average pulled towards PRIOR_MEAN while there are few reviews."""
    return (PRIOR_WEIGHT * PRIOR_MEAN + total) / (PRIOR_WEIGHT + count)


def soonest_factor(slot: datetime | None, now: datetime) -> float:
    """The SQL in storage/discovery.py is the same (0 without a slot)."""
    if slot is None:
        return 0.0
    hours = max(0.0, (slot - now).total_seconds() / 3600)
    return 1 / (1 + hours / 24)


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a sphere of the mean Earth radius (the SQL in storage/discovery.py is the same)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


@dataclass(frozen=True, slots=True)
class Box:
    """A latitude/longitude box holding every point within a radius; longitude bounds None when it spans them all."""

    lat_min: float
    lat_max: float
    lon_min: float | None
    lon_max: float | None


def bounding_box(lat: float, lon: float, radius_km: float) -> Box:
    """A box around the circle, slightly generous; the exact distance then decides."""
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM) * 1.001
    lat_min, lat_max = lat - dlat, lat + dlat
    if lat_min <= -90 or lat_max >= 90:
        return Box(max(lat_min, -90), min(lat_max, 90), None, None)  # a pole is inside: every longitude
    dlon = math.degrees(math.asin(min(1.0, math.sin(radius_km / EARTH_RADIUS_KM) / math.cos(math.radians(lat))))) * 1.001
    if lon - dlon < -180 or lon + dlon > 180:
        return Box(lat_min, lat_max, None, None)  # crosses the antimeridian: the latitude band alone
    return Box(lat_min, lat_max, lon - dlon, lon + dlon)
