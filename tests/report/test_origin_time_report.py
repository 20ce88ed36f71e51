"""The origin-time markdown artifact and table rows over a small hand-written Lake tree."""

from __future__ import annotations

import json

from feedcheck.report.criteria import overall_status
from feedcheck.report.origin_time import (
    TABLE_COLUMNS,
    origin_time_markdown,
    origin_time_table_rows,
)
from feedcheck.report.plots import origin_time_plot_uris, origin_time_plots, png_data_uri

#: The flow embeds the whole markdown in one artifact; keep it well below this.
ARTIFACT_LIMIT_BYTES = 1_500_000


def test_markdown_has_summary_criteria_plots_and_one_table_per_stream(small_result):
    uris = {k: png_data_uri(v) for k, v in origin_time_plots(small_result).items()}
    assert origin_time_plot_uris(small_result) == uris
    md = origin_time_markdown(small_result, uris)
    assert md.startswith("# origin_time completeness and clock skew (Story 1.1)\n")
    assert f"**Overall: {overall_status(small_result.criteria).value}**" in md
    lines = md.splitlines()
    for c in small_result.criteria:
        row = next(line for line in lines if line.startswith(f"| {c.name} |"))
        assert f"**{c.status.value}**" in row
    for s in small_result.streams:
        assert f"### {s.key}: {s.recommendation.kind.value}" in lines
        for reason in s.recommendation.reasons:
            assert f"- {reason}" in lines
    assert md.count("](data:image/png;base64,") == 3
    assert "**Missing (no partition in the range)**: `trades/BINANCE/BTC-USDT/2024-04-02`" in md
    assert "**Empty (files with no rows)**: `book_delta_v2/BINANCE/BTC-USDT/2024-04-01`" in md
    assert md.index("## Criteria") < md.index("## Plots") < md.index("## Streams")
    assert len(md.encode()) < ARTIFACT_LIMIT_BYTES


def test_markdown_without_plots(small_result):
    md = origin_time_markdown(small_result, {})
    assert "## Plots" not in md and "data:image" not in md


def test_table_rows_are_json_safe_one_per_partition(small_result):
    rows = origin_time_table_rows(small_result)
    json.dumps(rows, allow_nan=False)
    assert [r["partition"] for r in rows] == [
        "book_delta_v2/BINANCE/BTC-USDT/2024-04-01",
        "book_delta_v2/BINANCE/BTC-USDT/2024-04-02",
        "book_delta_v2/BINANCE/BTC-USDT/2024-04-03",
        "trades/BINANCE/BTC-USDT/2024-04-01",
        "trades/BINANCE/BTC-USDT/2024-04-02",
        "trades/BINANCE/BTC-USDT/2024-04-03",
    ]
    assert all(tuple(r) == TABLE_COLUMNS for r in rows)
    assert [r["status"] for r in rows] == ["empty", "ok", "ok", "ok", "missing", "ok"]
    trades = rows[3]
    part = small_result.partition("trades/BINANCE/BTC-USDT/2024-04-01")
    assert (trades["rows"], trades["origin_null"]) == (3_000, 1)
    assert trades["skew_p95_ms"] == part.skew.p95_ns / 1e6
    assert trades["skew_negative_pct"] == part.skew.negative_pct
