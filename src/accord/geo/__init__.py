"""Accord's geometry core: volumes, 4D boxes for the prefilter, and the exact strategic test.

Modules: `volume` (values, JSON in and out, validation), `box` (conservative 4D boxes),
`separation` (local frames, proximity and conflicts), `geodesy` (WGS 84 helpers and bounds).
Pure: no I/O, no clocks; imports only accord.errors, accord.timefmt, numpy, shapely and
pyproj, and must never import accord.store, service, api, cli or rules.
"""

from accord.geo.box import BOX_EPOCH, Box4, volume_box
from accord.geo.separation import LocalFrame, Proximity, conflicts, proximity
from accord.geo.volume import (
    AltitudeBand,
    Circle,
    Footprint,
    Polygon,
    Volume,
    VolumeLimits,
    footprint_geojson,
    parse_volume,
    vertical_gap,
    volume_to_json,
)

__all__ = [
    "BOX_EPOCH",
    "AltitudeBand",
    "Box4",
    "Circle",
    "Footprint",
    "LocalFrame",
    "Polygon",
    "Proximity",
    "Volume",
    "VolumeLimits",
    "conflicts",
    "footprint_geojson",
    "parse_volume",
    "proximity",
    "vertical_gap",
    "volume_box",
    "volume_to_json",
]
