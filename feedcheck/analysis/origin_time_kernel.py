"""The one-pass origin_time kernel: run-length scan of two int64 ns clocks (numba, in place).

`scan_clocks_nb` walks one batch of rows in file order. Consecutive rows with the same origin,
receipt and null flags form a *run* (a `book_delta_v2` message is one run of ~100 rows sharing
both clocks); every check is a property of the run or of its boundary with the previous run, so
the per-row work is two compares and the checks run once per run, weighted by its length. State
that spans batches (the previous valid origin and receipt) lives in `state`, so calling the kernel
batch after batch gives exactly the result of one call over the whole partition.

Definitions (all exact, in rows unless said otherwise):
- origin: null (Parquet null), NaT (int64 min), zero, negative (< 0, not NaT), else *valid*.
  Valid origins are rounded to the nearest ms (`ORIGIN_RESOLUTION_NS`) for the day, ordering,
  step and hour checks, because Lake's ns went through float seconds.
- received: null, NaT, non-positive, else valid.
- float noise: a valid origin that is not a whole ms before rounding.
- outside the day: rounded valid origin not in `[day_start_ms, day_end_ms)`; future: raw valid
  origin > `now_ns`.
- out of order: a valid origin (rounded) below the previous valid origin (rounded); a valid
  receipt (raw) below the previous valid receipt; both in file order, each clock on its own rows.
- step: rounded valid origin minus the previous one when it is > 0 (a new message), in ms.
- hole candidate: raw valid origin minus the previous raw valid origin >= `hole_floor_ns`.
- skew: receipt - origin (raw ns) on rows where both clocks are valid; hour = UTC hour of day
  of the rounded origin.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedcheck.schemas.lake_columns import NAT_NS, ORIGIN_RESOLUTION_NS

# ---- counts[]: one int64 slot each; the *_MIN/*_MAX slots start at INT64_MAX / INT64_MIN.
C_ROWS = 0
C_ORIGIN_NULL = 1
C_ORIGIN_NAT = 2
C_ORIGIN_ZERO = 3
C_ORIGIN_NEGATIVE = 4
C_ORIGIN_VALID = 5
C_OUTSIDE_DAY = 6
C_FUTURE = 7
C_FLOAT_NOISE = 8
C_RECEIVED_NULL = 9
C_RECEIVED_NAT = 10
C_RECEIVED_NONPOSITIVE = 11
C_RECEIVED_VALID = 12
C_ORIGIN_OUT_OF_ORDER = 13
C_RECEIVED_OUT_OF_ORDER = 14
C_SKEW_ROWS = 15
C_SKEW_NEGATIVE = 16
C_SKEW_SPIKE = 17
C_STEPS = 18
C_ORIGIN_MIN = 19
C_ORIGIN_MAX = 20
C_RECEIVED_MIN = 21
C_RECEIVED_MAX = 22
C_SKEW_MIN = 23
C_SKEW_MAX = 24
N_COUNTS = 25
_MIN_SLOTS = (C_ORIGIN_MIN, C_RECEIVED_MIN, C_SKEW_MIN)
_MAX_SLOTS = (C_ORIGIN_MAX, C_RECEIVED_MAX, C_SKEW_MAX)

# ---- params[]: read only.
P_DAY_START_MS = 0
P_DAY_END_MS = 1
P_NOW_NS = 2
P_HOLE_FLOOR_NS = 3
P_SPIKE_NS = 4
N_PARAMS = 5

# ---- state[]: carried from batch to batch.
S_HAVE_ORIGIN = 0
S_PREV_ORIGIN_NS = 1
S_PREV_ORIGIN_MS = 2
S_HAVE_RECEIVED = 3
S_PREV_RECEIVED_NS = 4
N_STATE = 5

#: Steps below this many ms are counted in `step_counts[step_ms]`; longer ones are listed.
STEP_BINS = 1 << 16
#: Log-histogram precision: each power of two is split into 2**HIST_BITS buckets, so a bucket is
#: at most 2**-HIST_BITS of its lower bound wide.
HIST_BITS = 10
#: Bucket index of |skew| = 2**63 (the largest); the histogram has 2 * HIST_OFFSET + 1 slots.
HIST_OFFSET = 64 << HIST_BITS
HIST_SLOTS = 2 * HIST_OFFSET + 1
HOURS = 24
MS_PER_HOUR = 3_600_000
_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min
_FLOAT_BELOW_2_63 = 2.0**63 - 1024


def new_counts() -> np.ndarray:
    """A zeroed counts array with the min/max slots at their identities."""
    counts = np.zeros(N_COUNTS, dtype=np.int64)
    counts[list(_MIN_SLOTS)] = _INT64_MAX
    counts[list(_MAX_SLOTS)] = _INT64_MIN
    return counts


def new_state() -> np.ndarray:
    return np.zeros(N_STATE, dtype=np.int64)


def hist_slot(skew_ns: np.ndarray) -> np.ndarray:
    """Histogram slots of skews: the vectorised twin of `_slot_nb` (tests check bounds with it)."""
    skew = np.asarray(skew_ns, dtype=np.int64)
    mag = np.abs(skew).astype(np.float64)
    bits = mag.view(np.int64)
    idx = np.where(mag >= 1.0, (bits >> (52 - HIST_BITS)) - (1023 << HIST_BITS) + 1, 0)
    return np.where(skew < 0, HIST_OFFSET - idx, HIST_OFFSET + idx)


def slot_bounds(slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive integer bounds `[lo, hi]` of the skews a histogram slot holds (ns)."""
    slot = np.asarray(slot, dtype=np.int64)
    idx = np.abs(slot - HIST_OFFSET)
    exp = (idx - 1) >> HIST_BITS
    mant = (idx - 1) & ((1 << HIST_BITS) - 1)
    scale = np.ldexp(1.0, exp.clip(0) - HIST_BITS)
    lo_mag = np.ceil((np.float64(1 << HIST_BITS) + mant) * scale)
    hi_mag = np.ceil((np.float64(1 << HIST_BITS) + mant + 1) * scale) - 1
    # the top bucket ends at 2**63, which int64 cannot hold: clip to the largest float below
    lo_mag = np.where(idx == 0, 0.0, np.minimum(lo_mag, _FLOAT_BELOW_2_63)).astype(np.int64)
    hi_mag = np.where(idx == 0, 0.0, np.minimum(hi_mag, _FLOAT_BELOW_2_63)).astype(np.int64)
    neg = slot < HIST_OFFSET
    return np.where(neg, -hi_mag, lo_mag), np.where(neg, -lo_mag, hi_mag)


@njit(inline="always")
def _slot_nb(skew: np.int64, fbuf: np.ndarray, ibuf: np.ndarray) -> np.int64:
    mag = -skew if skew < 0 else skew
    idx = 0
    if mag >= 1:
        fbuf[0] = np.float64(mag)  # ibuf views fbuf: the float's exponent and top mantissa bits
        idx = (ibuf[0] >> (52 - HIST_BITS)) - (1023 << HIST_BITS) + 1
    return HIST_OFFSET - idx if skew < 0 else HIST_OFFSET + idx


@njit(nogil=True, cache=True)
def scan_clocks_nb(
    origin_ns: np.ndarray,
    received_ns: np.ndarray,
    origin_null: np.ndarray,
    received_null: np.ndarray,
    has_nulls: bool,
    params: np.ndarray,
    state: np.ndarray,
    counts: np.ndarray,
    step_counts: np.ndarray,
    big_steps_ms: np.ndarray,
    hole_start_ns: np.ndarray,
    hole_end_ns: np.ndarray,
    hist: np.ndarray,
    emit_runs: bool,
    run_hour: np.ndarray,
    run_skew_ns: np.ndarray,
    run_weight: np.ndarray,
    fbuf: np.ndarray,
    ibuf: np.ndarray,
    written: np.ndarray,
) -> None:
    """Scan one batch; update `state`, `counts`, `step_counts`, `hist` in place.

    `origin_null`/`received_null` are read only when `has_nulls` (null values in the clock arrays
    are ignored). Output lists (`big_steps_ms`, `hole_*`, `run_*`) need room for `len(origin_ns)`
    entries; `written[:3]` receives how many of each were filled: big steps, hole candidates,
    skew runs (written only when `emit_runs`). `fbuf` (float64[1]) and `ibuf` (its int64 view)
    are scratch space for reading a float's bits.
    """
    n = origin_ns.size
    day_lo, day_hi = params[P_DAY_START_MS], params[P_DAY_END_MS]
    now, floor, spike = params[P_NOW_NS], params[P_HOLE_FLOOR_NS], params[P_SPIKE_NS]
    n_big = 0
    n_holes = 0
    n_runs = 0
    i = 0
    while i < n:
        o = origin_ns[i]
        r = received_ns[i]
        onull = has_nulls and origin_null[i]
        rnull = has_nulls and received_null[i]
        j = i + 1
        if has_nulls:
            while (
                j < n
                and origin_ns[j] == o
                and received_ns[j] == r
                and origin_null[j] == onull
                and received_null[j] == rnull
            ):
                j += 1
        else:
            while j < n and origin_ns[j] == o and received_ns[j] == r:
                j += 1
        w = j - i
        i = j
        counts[C_ROWS] += w
        o_ok = False
        o_ms = 0
        if onull:
            counts[C_ORIGIN_NULL] += w
        elif o == NAT_NS:
            counts[C_ORIGIN_NAT] += w
        elif o == 0:
            counts[C_ORIGIN_ZERO] += w
        elif o < 0:
            counts[C_ORIGIN_NEGATIVE] += w
        else:
            o_ok = True
            o_ms = (o + ORIGIN_RESOLUTION_NS // 2) // ORIGIN_RESOLUTION_NS
            counts[C_ORIGIN_VALID] += w
            if o_ms * ORIGIN_RESOLUTION_NS != o:
                counts[C_FLOAT_NOISE] += w
            if o_ms < day_lo or o_ms >= day_hi:
                counts[C_OUTSIDE_DAY] += w
            if o > now:
                counts[C_FUTURE] += w
            if o < counts[C_ORIGIN_MIN]:
                counts[C_ORIGIN_MIN] = o
            if o > counts[C_ORIGIN_MAX]:
                counts[C_ORIGIN_MAX] = o
            if state[S_HAVE_ORIGIN]:
                step = o_ms - state[S_PREV_ORIGIN_MS]
                if step < 0:
                    counts[C_ORIGIN_OUT_OF_ORDER] += 1
                elif step > 0:
                    counts[C_STEPS] += 1
                    if step < STEP_BINS:
                        step_counts[step] += 1
                    else:
                        big_steps_ms[n_big] = step
                        n_big += 1
                if o - state[S_PREV_ORIGIN_NS] >= floor:
                    hole_start_ns[n_holes] = state[S_PREV_ORIGIN_NS]
                    hole_end_ns[n_holes] = o
                    n_holes += 1
            state[S_HAVE_ORIGIN] = 1
            state[S_PREV_ORIGIN_NS] = o
            state[S_PREV_ORIGIN_MS] = o_ms
        if rnull:
            counts[C_RECEIVED_NULL] += w
        elif r == NAT_NS:
            counts[C_RECEIVED_NAT] += w
        elif r <= 0:
            counts[C_RECEIVED_NONPOSITIVE] += w
        else:
            counts[C_RECEIVED_VALID] += w
            if r < counts[C_RECEIVED_MIN]:
                counts[C_RECEIVED_MIN] = r
            if r > counts[C_RECEIVED_MAX]:
                counts[C_RECEIVED_MAX] = r
            if state[S_HAVE_RECEIVED] and r < state[S_PREV_RECEIVED_NS]:
                counts[C_RECEIVED_OUT_OF_ORDER] += 1
            state[S_HAVE_RECEIVED] = 1
            state[S_PREV_RECEIVED_NS] = r
            if o_ok:
                skew = r - o
                counts[C_SKEW_ROWS] += w
                if skew < 0:
                    counts[C_SKEW_NEGATIVE] += w
                if skew >= spike:
                    counts[C_SKEW_SPIKE] += w
                if skew < counts[C_SKEW_MIN]:
                    counts[C_SKEW_MIN] = skew
                if skew > counts[C_SKEW_MAX]:
                    counts[C_SKEW_MAX] = skew
                hour = (o_ms // MS_PER_HOUR) % HOURS
                hist[hour, _slot_nb(skew, fbuf, ibuf)] += w
                if emit_runs:
                    run_hour[n_runs] = hour
                    run_skew_ns[n_runs] = skew
                    run_weight[n_runs] = w
                    n_runs += 1
    written[0] = n_big
    written[1] = n_holes
    written[2] = n_runs
