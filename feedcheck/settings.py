"""Settings read once at the edge (CLI, flow entry) and passed down as arguments.

Every field can be set from the environment with the `FEEDCHECK_LAKE_` prefix, e.g.
`FEEDCHECK_LAKE_ENDPOINT_URL=http://127.0.0.1:9000`. Nothing reads settings at import time;
build `LakeSettings()` where a run starts.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from feedcheck.lake.source import (
    DEFAULT_ATTEMPTS,
    DEFAULT_CONCURRENCY,
    VENDOR_BUCKET,
    VENDOR_PREFIX,
    VENDOR_REGION,
    Credentials,
    LakeSource,
)


class LakeSettings(BaseSettings):
    """Where Crypto Lake data comes from and where it is staged."""

    model_config = SettingsConfigDict(env_prefix="FEEDCHECK_LAKE_", extra="ignore")

    bucket: str = VENDOR_BUCKET
    prefix: str = VENDOR_PREFIX
    region: str = VENDOR_REGION
    #: Any S3-compatible endpoint (moto, MinIO); None means AWS.
    endpoint_url: str | None = None
    #: Read the public sample bucket (`sample.crypto.lake`, no prefix) without credentials.
    sample: bool = False
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    #: Name of a Prefect Secret block holding the Lake key pair (see `tasks/secrets.py`).
    secret_block: str | None = None
    staging_dir: Path = Path("staging")
    concurrency: int = DEFAULT_CONCURRENCY
    attempts: int = DEFAULT_ATTEMPTS

    def lake_source(self) -> LakeSource:
        """The sample bucket (unsigned) when `sample`, else bucket/prefix/region as configured."""
        if self.sample:
            return LakeSource.sample(self.endpoint_url)
        return LakeSource(self.bucket, self.prefix, self.region, self.endpoint_url)

    def env_credentials(self) -> Credentials | None:
        """The FEEDCHECK_LAKE_AWS_* pair when set (None means: let boto3's chain decide)."""
        if self.aws_access_key_id and self.aws_secret_access_key:
            return Credentials(self.aws_access_key_id, self.aws_secret_access_key)
        return None
