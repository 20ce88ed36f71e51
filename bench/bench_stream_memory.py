"""Peak RSS of the download flow's schema step and the delta gap read, streamed vs eager.

One generated book_delta_v2 partition at the plan's 8 M rows/hour (`HOURS` hours, or
`python -m bench.bench_stream_memory --hours N`; 1 M-row row groups as the generator writes them). Each case runs in its own child process so its peak RSS is
its own; `baseline` is a child that only imports the same modules. Peers, same data:

- validation: `validate_partition` on the file (streamed, default batch) vs the same schema run
  on the whole partition read into memory (`read_partition` + `validate_partition(frame)`: the
  previous file path);
- gaps: `_message_times` (streamed) vs the three columns read whole with `pq.read_table` (the
  previous implementation).

Both peers return the same counts; the child checks that and prints them.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from bench.machine import describe
from feedcheck.lake.synthetic import Rates, Scenario, generate_dataset

HOURS = 2.0


def _scenario(hours: float) -> Scenario:
    return Scenario(
        seed=1,
        symbols=("BTC-USDT",),
        start=date(2024, 4, 1),
        end=date(2024, 4, 2),
        tables=("book_delta_v2",),
        hours_per_day=hours,
        rates=Rates(delta_messages_per_second=10.0, levels_per_message=222.0),
    )


def _hwm_mib() -> float:
    """This process's RSS high-water mark (VmHWM). Not `getrusage`: Linux carries ru_maxrss over
    fork + exec, so a child would report at least its parent's peak (the generator's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


CASES = ("baseline", "validate-stream", "validate-eager", "gaps-stream", "gaps-eager")


def _child(case: str, path: Path) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    from feedcheck.analysis.gaps import _message_times
    from feedcheck.book.replay import message_starts
    from feedcheck.lake.layout import parse_key
    from feedcheck.lake.readers import read_partition
    from feedcheck.lake.validation import validate_partition

    partition = parse_key(path.as_posix()).partition
    result = ""
    if case == "validate-stream":
        r = validate_partition(path, "book_delta_v2", tick=0.01)
        result = f"rows={r.rows} failing={sum(r.counts.values())}"
    elif case == "validate-eager":
        r = validate_partition(read_partition(path), "book_delta_v2", partition, tick=0.01)
        result = f"rows={r.rows} failing={sum(r.counts.values())}"
    elif case == "gaps-stream":
        seq, origin, valid = _message_times(path)
        result = f"messages={len(seq)} valid={int(valid.sum())} seq_sum={int(seq.sum())}"
    elif case == "gaps-eager":
        cols = ["timestamp", "receipt_timestamp", "sequence_number"]
        table = pq.read_table(path, columns=cols)
        recv = table.column("receipt_timestamp").fill_null(0).to_numpy()
        seq_all = table.column("sequence_number").to_numpy()
        starts = message_starts(recv, seq_all)[:-1]
        origin = table.column("timestamp").fill_null(0).to_numpy()[starts]
        null = table.column("timestamp").is_null().to_numpy(zero_copy_only=False)[starts]
        seq, valid = seq_all[starts], ~null & (origin > 0)
        result = f"messages={len(seq)} valid={int(valid.sum())} seq_sum={int(np.sum(seq))}"
    print(f"{case}: {_hwm_mib():.0f} MiB peak RSS  {result}", flush=True)


def main(hours: float) -> None:
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        truth = generate_dataset(_scenario(hours), Path(tmp))
        (part,) = truth.partitions
        path = Path(tmp) / part.path
        size_mb = path.stat().st_size / 1e6
        print(f"partition: {part.rows:,} rows, {size_mb:.0f} MB on disk, {hours:g} h at 8 M/h")
        for case in CASES:
            subprocess.run(
                [sys.executable, "-m", "bench.bench_stream_memory", "--child", case, str(path)],
                check=True,
            )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], Path(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--hours":
        main(float(sys.argv[2]))
    else:
        main(HOURS)
