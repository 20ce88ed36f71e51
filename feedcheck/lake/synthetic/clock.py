"""The two clocks of a synthetic Lake row: exchange (origin) time and collector receipt time.

Lake stores both clocks as int64 ns that went through float64 seconds (cryptofeed divides the
exchange's ms by 1000.0 and stamps receipt with `time.time()`), so the sub-µs digits are float
noise: an exchange time of ...00.033 s is stored as ...00.032999936 ns (data-formats.md §1.3).
The generator keeps exact integers (origin in ms, receipt in µs) until the file is written and
converts with `origin_ms_to_ns` / `receipt_us_to_ns`, which reproduce that noise.

Lag (receipt − origin) is log-normal (median `LAG_MEDIAN_US`, p95 ~80 ms), clipped to
[`LAG_MIN_US`, `LAG_MAX_US`], with rare stalls of `STALL_MIN_US`..`LAG_MAX_US`, drawn per
`LAG_BUCKET_MS` of exchange time. The collector
receives one stream in order, so receipts never go backwards: each receipt is at least the previous
one plus `RECEIPT_STEP_US`; a stall therefore delays the events queued behind it, as a real socket
does. The natural lag always stays in [0, `scenario.MAX_NATURAL_LAG_NS`).
"""

from __future__ import annotations

import numpy as np

#: Median of the natural lag (Binance spot trades measured 5 ms, data-formats.md §1.3).
LAG_MEDIAN_US = 5_000
#: Log-normal shape: p95 = median * exp(1.645 * sigma) ≈ 59 ms before queueing behind stalls.
LAG_SIGMA = 1.5
#: Lower clip: keeps lag > 0 after the float conversion (float noise is ~256 ns).
LAG_MIN_US = 200
#: Upper clip, also the longest stall; below `scenario.MAX_NATURAL_LAG_NS` (1.5 s).
LAG_MAX_US = 1_000_000
#: Stalls last `STALL_MIN_US`..`LAG_MAX_US` and hit about once every `STALL_EVERY_S` of data.
STALL_MIN_US = 500_000
STALL_EVERY_S = 600.0
#: Events within one bucket of exchange time share the network state (log-sd of the spread).
LAG_BUCKET_MS = 100
LAG_JITTER_SIGMA = 0.2
#: Receipts of one stream are strictly increasing by at least this much.
RECEIPT_STEP_US = 1


def origin_ms_to_ns(origin_ms: np.ndarray) -> np.ndarray:
    """Exchange ms → int64 ns through float64 seconds, as cryptofeed + Lake do.

    `1664582400033` ms becomes `1664582400032999936` ns; rounding the result to the nearest ms
    gives the input back exactly.
    """
    return (origin_ms.astype(np.float64) / 1000.0 * 1e9).astype(np.int64)


def receipt_us_to_ns(receipt_us: np.ndarray) -> np.ndarray:
    """Collector µs (a `time.time()` reading) → int64 ns through float64 seconds."""
    return (receipt_us.astype(np.float64) / 1e6 * 1e9).astype(np.int64)


def natural_lag_us(rng: np.random.Generator, origin_ms: np.ndarray) -> np.ndarray:
    """Natural lags in µs for events at `origin_ms`, all in [LAG_MIN_US, LAG_MAX_US].

    The network's state is drawn once per `LAG_BUCKET_MS` of exchange time (log-normal body, rare
    stalls) and shared by the events in it up to a small jitter: a burst of trades travels under
    the same conditions, so the receipt queue rarely inflates the lag.
    """
    bucket = origin_ms // LAG_BUCKET_MS
    _, inverse = np.unique(bucket, return_inverse=True)
    n_buckets = int(inverse.max()) + 1 if inverse.size else 0
    base = np.exp(rng.normal(np.log(LAG_MEDIAN_US), LAG_SIGMA, n_buckets))
    stall = rng.random(n_buckets) < LAG_BUCKET_MS / 1000.0 / STALL_EVERY_S
    base = np.where(stall, rng.uniform(STALL_MIN_US, LAG_MAX_US, n_buckets), base)
    lag = base[inverse] * np.exp(rng.normal(0.0, LAG_JITTER_SIGMA, origin_ms.size))
    return np.clip(lag, LAG_MIN_US, LAG_MAX_US).astype(np.int64)


def receipt_chain_us(origin_ms: np.ndarray, lag_us: np.ndarray, prev_receipt_us: int) -> np.ndarray:
    """Receipt µs of consecutive events of one stream: `r[i] = max(o[i] + lag[i], r[i-1] + step)`.

    Vectorised as a running maximum of `x[i] - i*step`. `prev_receipt_us` is the receipt of the
    event before the first (the previous chunk's last), or a very small number at a day start.
    Invariant: strictly increasing; `r[i] - o[i] >= lag[i]`.
    """
    n = origin_ms.size
    steps = np.arange(1, n + 1, dtype=np.int64) * RECEIPT_STEP_US
    wanted = origin_ms * 1000 + lag_us
    queued = np.maximum.accumulate(wanted - steps) + steps
    return np.maximum(queued, prev_receipt_us + steps)
