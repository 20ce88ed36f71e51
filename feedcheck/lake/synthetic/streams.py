"""Independent, reproducible random streams: one per (seed, purpose, symbol, day ...).

Keys are hashed with CRC-32 (stable across processes, unlike `hash()`), so a partition's data does
not depend on which other partitions a scenario writes.
"""

from __future__ import annotations

import zlib
from datetime import date

import numpy as np


def _key(part: str | int | date) -> int:
    if isinstance(part, int):
        return part
    if isinstance(part, date):
        return part.toordinal()
    return zlib.crc32(part.encode())


def stream(seed: int, *keys: str | int | date) -> np.random.Generator:
    """A numpy Generator for `seed` and the given keys (e.g. `"lag", "BTC-USDT", day`)."""
    return np.random.default_rng(np.random.SeedSequence([seed, *(_key(k) for k in keys)]))
