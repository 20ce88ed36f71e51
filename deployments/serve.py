"""Single-machine scheduling without a work pool: `python deployments/serve.py`.

Serves the same deployments as prefect.yaml from this process (needs a running Prefect server,
`prefect server start`, for schedules and the UI). Use prefect.yaml + a process worker instead when
deployments should be version-controlled and run by a separate worker.
"""

from __future__ import annotations

from prefect import serve
from prefect.schedules import Cron

from feedcheck.flows.download import download


def main() -> None:
    serve(
        download.to_deployment(
            name="daily",
            schedules=[Cron("30 2 * * *", timezone="UTC")],
            parameters={"exchange": "BINANCE", "symbols": ["BTC-USDT"], "staging_dir": "staging"},
            tags=["lake", "download"],
        ),
        download.to_deployment(name="manual", tags=["lake", "download"]),
    )


if __name__ == "__main__":
    main()
