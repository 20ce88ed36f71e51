"""feedcheck.analysis.decimals: exact mismatch counts per path on a constructed dataset."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from feedcheck.analysis.decimals import (
    DECIMAL_PATHS,
    PATHS,
    build_dataset,
    evaluate,
    probe_finer_than_scale,
    round_trip,
    run_decimals_check,
)
from feedcheck.report.criteria import Status

# WIDE-1E10 quantities (8 decimals): the first three are odd lot counts above 2**53, which no
# float64 can hold, so float64 must get exactly those three wrong; the last has 13 significant
# digits and survives float64.
DATASET = pl.DataFrame(
    {
        "symbol": ["BTC-USDT", "BTC-USDT", "SOL-USDT", "SHIB-USDT", "SHIB-USDT"]
        + ["WIDE-1E10"] * 4,
        "price": [
            "65000.01",
            "0.00",
            "142.37",
            "0.00001234",
            "0.00000001",
            "0.00002000",
            "0.00000001",
            "0.00001",
            "0.00009999",
        ],
        "qty": [
            "0.00001",
            "1234.56789",
            "0.001",
            "84000000000",
            "1",
            "10000000000.12345679",
            "12345678901.00000001",
            "80000000000.00000001",
            "12345.67890123",
        ],
    }
)


def _by(results, path: str, column: str) -> int:
    return sum(r.mismatches for r in results if r.path == path and r.column == column)


def test_constructed_dataset_exact_counts(tmp_path: Path) -> None:
    results = round_trip(DATASET, workdir=tmp_path)
    assert len(results) == 4 * 2 * len(PATHS)
    for path in (*DECIMAL_PATHS, "int64_ticks"):
        assert _by(results, path, "price") == 0
        assert _by(results, path, "qty") == 0
    assert _by(results, "float64", "price") == 0
    assert _by(results, "float64", "qty") == 3
    wide = {r.path: r for r in results if r.symbol == "WIDE-1E10" and r.column == "qty"}
    # float("10000000000.12345679") × 1e8 lands on a multiple of 128 (the ulp above 2**59).
    assert wide["float64"].first_mismatch == ("10000000000.12345679", "10000000000.12345728")
    assert wide["polars_decimal"].precision == 38
    assert wide["arrow_decimal128_int"].physical_type == "FIXED_LEN_BYTE_ARRAY"
    assert wide["int64_ticks"].physical_type == "INT64"
    # Σ ≈ 1.2e19 lots: the int64 sum wraps, Decimal(38) sums stay exact.
    assert not wide["int64_ticks"].sum_exact
    assert all(wide[p].sum_exact for p in DECIMAL_PATHS)
    btc = {r.path: r for r in results if r.symbol == "BTC-USDT" and r.column == "price"}
    assert btc["arrow_decimal128_flba"].physical_type == "FIXED_LEN_BYTE_ARRAY"
    assert btc["arrow_decimal128_int"].physical_type == "INT64"
    assert btc["polars_decimal"].precision == 18
    assert all(r.sum_exact for r in btc.values())


def test_verdicts_without_speed(tmp_path: Path) -> None:
    criteria = {c.name: c for c in evaluate(round_trip(DATASET, workdir=tmp_path), ())}
    assert criteria["Decimal128 works"].status is Status.PASS
    assert criteria["Decimal128 works"].value == 0
    assert "3 of 18 values wrong" in criteria["Decimal128 works"].evidence
    assert criteria["int64 fallback ready"].status is Status.PASS
    assert "WIDE-1E10.qty" in criteria["int64 fallback ready"].evidence
    assert criteria["Decimal128 Parquet read cost"].status is Status.UNKNOWN


def test_verdict_fails_on_a_mismatch(tmp_path: Path) -> None:
    results = round_trip(DATASET, workdir=tmp_path)
    broken = tuple(
        r if r.path != "duckdb_decimal" else r.__class__(**{**r.__dict__, "mismatches": 1})
        for r in results
    )
    criteria = {c.name: c for c in evaluate(broken, ())}
    assert criteria["Decimal128 works"].status is Status.FAIL
    assert criteria["Decimal128 works"].value == 8


def test_probes() -> None:
    outcomes = {p.engine: p.outcome for p in probe_finer_than_scale("0.123456789", 8)}
    assert outcomes == {
        "arrow_to_string": "1E-8",
        "polars": "0.12345679",
        "duckdb": "0.12345679",
        "arrow": "error",
        "int64_ticks": "error",
    }


def test_full_run_to_json(tmp_path: Path) -> None:
    report = run_decimals_check(50, speed_rows=2_000, repeats=1, workdir=tmp_path)
    raw = json.loads(json.dumps(report.to_json()))
    assert set(raw["mismatches_by_path"]) == set(PATHS)
    assert {k: v for k, v in raw["mismatches_by_path"].items() if k != "float64"} == {
        p: 0 for p in PATHS if p != "float64"
    }
    assert [c["name"] for c in raw["criteria"]] == [
        "Decimal128 works",
        "int64 fallback ready",
        "Decimal128 Parquet read cost",
    ]
    assert raw["criteria"][2]["status"] in {"PASS", "FAIL"}
    assert {(s["operation"], s["engine"]) for s in raw["speed"]} >= {
        ("sum", "polars"),
        ("diff", "polars"),
        ("group_by_sum", "polars"),
        ("sort", "polars"),
        ("parquet_read", "polars"),
        ("parquet_write", "polars"),
        ("parquet_read_flba", "pyarrow"),
        ("group_by_sum", "duckdb"),
    }


def test_build_dataset_is_on_scale() -> None:
    frame = build_dataset(20, seed=3)
    assert frame.height == 80
    assert frame["symbol"].unique(maintain_order=True).to_list() == [
        "BTC-USDT",
        "SOL-USDT",
        "SHIB-USDT",
        "WIDE-1E10",
    ]
