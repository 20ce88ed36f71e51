"""Run every `bench/bench_*.py` (or those named on the command line), each in its own process so
peak RSS figures are per benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    failed = 0
    for name in names:
        print(f"== {name}", flush=True)
        failed |= subprocess.call([sys.executable, "-m", f"bench.bench_{name}"])
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
