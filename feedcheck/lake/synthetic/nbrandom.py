"""Per-stream random numbers inside numba kernels: xorshift64* on a `uint64[1]` state array.

numba's own `np.random` inside `@njit` is one global stream; the generator needs one independent,
seedable stream per symbol and day so that output is byte-identical for a seed.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


def new_state(rng: np.random.Generator) -> np.ndarray:
    """A fresh kernel RNG state (never zero) drawn from a numpy stream."""
    return np.array([rng.integers(1, 2**63 - 1)], dtype=np.uint64)


@njit(inline="always")
def u64_nb(state):
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return x * np.uint64(0x2545F4914F6CDD1D)


@njit(inline="always")
def unif_nb(state):
    """Uniform float64 in [0, 1)."""
    return float(u64_nb(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(inline="always")
def normal_nb(state):
    u1 = unif_nb(state)
    u2 = unif_nb(state)
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


@njit(inline="always")
def exponential_nb(state, mean):
    return -math.log(1.0 - unif_nb(state)) * mean


@njit(inline="always")
def poisson_nb(state, lam):
    """Poisson draw: Knuth's product method up to 30, a rounded normal above."""
    if lam <= 0.0:
        return 0
    if lam > 30.0:
        v = int(round(lam + math.sqrt(lam) * normal_nb(state)))
        return v if v > 0 else 0
    limit = math.exp(-lam)
    k = 0
    p = unif_nb(state)
    while p > limit:
        k += 1
        p *= unif_nb(state)
    return k
