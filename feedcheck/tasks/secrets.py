"""Lake credentials from a Prefect Secret block: the only place feedcheck reads one.

The block's value is either a JSON object `{"aws_access_key_id": ..., "aws_secret_access_key": ...}`
or the string `ACCESS_KEY_ID:SECRET_ACCESS_KEY`. Create it once with
`prefect block create secret` in the UI, or in Python: `Secret(value={...}).save("crypto-lake")`.
"""

from __future__ import annotations

from collections.abc import Mapping

from prefect.blocks.system import Secret

from feedcheck.errors import ConfigError
from feedcheck.lake.source import Credentials
from feedcheck.settings import LakeSettings


def credentials_from_secret_value(value: object, block: str) -> Credentials:
    """Parse a Secret block value; the error names the block, never the value."""
    if isinstance(value, Mapping):
        key_id, secret = value.get("aws_access_key_id"), value.get("aws_secret_access_key")
    elif isinstance(value, str) and ":" in value:
        key_id, secret = value.split(":", 1)
    else:
        key_id = secret = None
    if not key_id or not secret:
        raise ConfigError(
            f"Secret block {block!r} must hold {{aws_access_key_id, aws_secret_access_key}} "
            "or 'ACCESS_KEY_ID:SECRET_ACCESS_KEY'"
        )
    return Credentials(str(key_id), str(secret))  # type: ignore[arg-type]


def lake_credentials(settings: LakeSettings) -> Credentials | None:
    """Secret block (when named) → FEEDCHECK_LAKE_AWS_* env → None (boto3's own chain)."""
    if settings.sample:
        return None
    if settings.secret_block:
        try:
            block = Secret.load(settings.secret_block)
        except ValueError as exc:
            raise ConfigError(f"Secret block {settings.secret_block!r} not found") from exc
        return credentials_from_secret_value(block.get(), settings.secret_block)
    return settings.env_credentials()
