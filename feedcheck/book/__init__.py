"""Order book core: per-instrument fixed point (`ticks`) and the reconstruction engine."""

from feedcheck.book.ticks import (
    SCALE_METADATA_KEY,
    FloatTicks,
    InstrumentScale,
    ParsedTicks,
    float_to_ticks,
    format_ticks_column,
    parse_decimal_column,
    read_scale,
    scale_from_metadata,
    scale_metadata,
    with_scale,
)

__all__ = [
    "SCALE_METADATA_KEY",
    "FloatTicks",
    "InstrumentScale",
    "ParsedTicks",
    "float_to_ticks",
    "format_ticks_column",
    "parse_decimal_column",
    "read_scale",
    "scale_from_metadata",
    "scale_metadata",
    "with_scale",
]
