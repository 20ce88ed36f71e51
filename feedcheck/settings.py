"""Settings read once at the edge (CLI, flow entry) and passed down as arguments.

Every field can be set from the environment with the `FEEDCHECK_` prefix, e.g.
`FEEDCHECK_LAKE_ENDPOINT_URL=http://127.0.0.1:9000`. Nothing here is read at import time by
decorators; call `LakeSettings()` where a run starts.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Crypto Lake's paid bucket and prefix (data-formats.md §1.5).
VENDOR_BUCKET = "qnt.data"
VENDOR_PREFIX = "market-data/cryptofeed"
VENDOR_REGION = "eu-west-1"
#: The public sample bucket, read unsigned, no prefix.
SAMPLE_BUCKET = "sample.crypto.lake"


class LakeSettings(BaseSettings):
    """Where Crypto Lake data comes from and where it is staged."""

    model_config = SettingsConfigDict(env_prefix="FEEDCHECK_LAKE_", extra="ignore")

    bucket: str = VENDOR_BUCKET
    prefix: str = VENDOR_PREFIX
    region: str = VENDOR_REGION
    #: Any S3-compatible endpoint (moto, MinIO); None means AWS.
    endpoint_url: str | None = None
    #: Read the public sample bucket without credentials.
    sample: bool = False
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    #: Name of a Prefect Secret block holding "ACCESS_KEY_ID:SECRET_ACCESS_KEY"; used when set.
    secret_block: str | None = None
    staging_dir: Path = Path("staging")
    concurrency: int = 8
    attempts: int = 5
