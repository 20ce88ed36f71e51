"""The buggy spot gap test of Binance's 2024-12-16 text, kept for tests only.

From 2024-12-16 to 2025-11-12 the docs said "if the event's U > local update id, events were
missed". Normal events start at `local id + 1`, so the test fires on every one of them; the
corrected text (`U > local id + 1`, `feedcheck.binance.sync.spot_is_gap`) fires only on real gaps.
"""

from __future__ import annotations


def buggy_2024_12_is_gap(first_update_id: int, local_update_id: int) -> bool:
    """The withdrawn rule: `U > local id` means missed events. Wrong: see the module docstring."""
    return first_update_id > local_update_id
