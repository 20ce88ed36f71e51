"""Where Crypto Lake data lives and how we talk to it: bucket location, credentials, S3 client,
error classification and the retry policy shared by listing and download.

Credential resolution, first match wins (see `resolve_credentials`):

1. explicit `Credentials` passed by the caller (the flow reads them from a Prefect Secret block);
2. env `FEEDCHECK_LAKE_AWS_ACCESS_KEY_ID` + `FEEDCHECK_LAKE_AWS_SECRET_ACCESS_KEY`;
3. boto3's standard chain (AWS_* env, ~/.aws, SSO, instance role).

A source with `unsigned=True` (the public sample bucket) never signs and ignores all three.
Secrets live in `SecretStr`; no repr, str, error or manifest produced here shows them.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import botocore.exceptions as bex
from botocore import UNSIGNED
from botocore.config import Config
from pydantic import SecretStr

from feedcheck.errors import (
    AccessDeniedError,
    ConfigError,
    NotFoundError,
    RemoteError,
    TransientRemoteError,
)

VENDOR_BUCKET = "qnt.data"
VENDOR_PREFIX = "market-data/cryptofeed"
VENDOR_REGION = "eu-west-1"
SAMPLE_BUCKET = "sample.crypto.lake"

ENV_ACCESS_KEY_ID = "FEEDCHECK_LAKE_AWS_ACCESS_KEY_ID"
ENV_SECRET_ACCESS_KEY = "FEEDCHECK_LAKE_AWS_SECRET_ACCESS_KEY"

#: Parallel downloads by default; the client's HTTP pool is sized to match so no thread waits
#: for a connection (urllib3 would otherwise warn "connection pool is full" and reconnect).
DEFAULT_CONCURRENCY = 8
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0

#: Full-jitter exponential backoff: attempt n waits uniform(0, min(cap, initial * 2**n)) seconds.
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 20.0
DEFAULT_ATTEMPTS = 5

# S3 error codes by meaning. HEAD responses have no body, so their code is the bare status.
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AllAccessDisabled",
        "ExpiredToken",
        "InvalidToken",
        "AccountProblem",
        "403",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "RequestLimitExceeded",
        "503",
        "500",
        "429",
    }
)
#: Failures of the transport itself (reset, timeout, short body): worth retrying.
TRANSIENT_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    bex.ConnectionError,
    bex.HTTPClientError,  # includes ResponseStreamingError, ReadTimeoutError, ConnectionClosedError
    bex.IncompleteReadError,
    OSError,
)
_CREDENTIAL_ERRORS: tuple[type[BaseException], ...] = (
    bex.NoCredentialsError,
    bex.PartialCredentialsError,
    bex.CredentialRetrievalError,
)
#: Every exception `remote_error` knows how to classify; catch exactly these around S3 calls.
S3_ERRORS: tuple[type[BaseException], ...] = (
    (bex.ClientError,) + TRANSIENT_TRANSPORT_ERRORS + _CREDENTIAL_ERRORS
)

_log = logging.getLogger(__name__)
T = TypeVar("T")
Backoff = Callable[[], Iterator[float]]


@dataclass(frozen=True)
class LakeSource:
    """An S3 location holding Lake's Hive tree: `s3://{bucket}/{prefix}/{table}/exchange=..`.

    `endpoint_url` points the client at any S3-compatible server (moto, MinIO); None means AWS.
    """

    bucket: str
    prefix: str
    region: str
    endpoint_url: str | None = None
    unsigned: bool = False

    def __post_init__(self) -> None:
        if not self.bucket or "/" in self.bucket:
            raise ConfigError(f"bucket {self.bucket!r} must be a bare S3 bucket name")
        if self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ConfigError(f"prefix {self.prefix!r} must not start or end with '/'")

    @classmethod
    def vendor(cls, endpoint_url: str | None = None) -> LakeSource:
        """The paid bucket `qnt.data/market-data/cryptofeed` in eu-west-1, signed."""
        return cls(VENDOR_BUCKET, VENDOR_PREFIX, VENDOR_REGION, endpoint_url, unsigned=False)

    @classmethod
    def sample(cls, endpoint_url: str | None = None) -> LakeSource:
        """The free sample bucket `sample.crypto.lake` (no prefix), read anonymously."""
        return cls(SAMPLE_BUCKET, "", VENDOR_REGION, endpoint_url, unsigned=True)

    def key_for(self, relpath: str) -> str:
        """Full object key of a path relative to the table root."""
        return f"{self.prefix}/{relpath}" if self.prefix else relpath

    def index_key(self, table: str) -> str:
        """Key of the vendor's per-table listing index, `{prefix}/{table}/contents.json.gz`."""
        return self.key_for(f"{table}/contents.json.gz")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def describe(self) -> str:
        """One line for logs and reports, e.g.
        `s3://qnt.data/market-data/cryptofeed (eu-west-1, signed)`."""
        where = f"{self.region}, via {self.endpoint_url}" if self.endpoint_url else self.region
        return f"{self.url} ({where}, {'unsigned' if self.unsigned else 'signed'})"


@dataclass(frozen=True)
class Credentials:
    """An AWS key pair. The secret (and session token) are `SecretStr`: repr/str show `**********`.

    The access key id is masked in repr as well (it names the subscriber's IAM user).
    """

    access_key_id: str
    secret_access_key: SecretStr
    session_token: SecretStr | None = field(default=None)

    def __post_init__(self) -> None:
        # Accept plain strings from callers but store them wrapped, so no later repr leaks them.
        if not isinstance(self.secret_access_key, SecretStr):
            object.__setattr__(self, "secret_access_key", SecretStr(str(self.secret_access_key)))
        if self.session_token is not None and not isinstance(self.session_token, SecretStr):
            object.__setattr__(self, "session_token", SecretStr(str(self.session_token)))
        if not self.access_key_id or not self.secret_access_key.get_secret_value():
            raise ConfigError("credentials need both an access key id and a secret access key")

    def __repr__(self) -> str:
        key_id = _mask(self.access_key_id)
        return f"Credentials(access_key_id={key_id!r}, secret_access_key=**********)"

    __str__ = __repr__

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials | None:
        """Read `FEEDCHECK_LAKE_AWS_ACCESS_KEY_ID` / `..._SECRET_ACCESS_KEY`; None when unset.

        Raises ConfigError when only one of the two is set (a half-configured environment).
        """
        env = os.environ if environ is None else environ
        key_id, secret = env.get(ENV_ACCESS_KEY_ID, ""), env.get(ENV_SECRET_ACCESS_KEY, "")
        if not key_id and not secret:
            return None
        if not key_id or not secret:
            missing = ENV_ACCESS_KEY_ID if not key_id else ENV_SECRET_ACCESS_KEY
            raise ConfigError(f"{missing} is not set but its partner is")
        return cls(key_id, SecretStr(secret))


def _mask(access_key_id: str) -> str:
    return access_key_id[:4] + "…" if len(access_key_id) > 4 else "…"


def resolve_credentials(
    explicit: Credentials | None, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """Explicit credentials, else the FEEDCHECK_LAKE_* env pair, else None (= boto3's chain)."""
    return explicit if explicit is not None else Credentials.from_env(environ)


def make_s3_client(
    source: LakeSource,
    credentials: Credentials | None = None,
    *,
    max_pool_connections: int = DEFAULT_CONCURRENCY,
    environ: Mapping[str, str] | None = None,
) -> Any:
    """A botocore S3 client for `source`, safe to share between download threads.

    Args:
        credentials: explicit keys (e.g. from a Prefect Secret block, resolved by the caller);
            None falls back to the FEEDCHECK_LAKE_* env pair, then boto3's chain. Ignored when
            `source.unsigned`.
        max_pool_connections: HTTP connections kept; pass the download concurrency.
        environ: the environment to read the FEEDCHECK_LAKE_* pair from (default os.environ).

    botocore's own retries are off (one attempt per call): `call_with_retries` and
    `download_object` are the single retry layer, so attempts are counted once and 403/404 are
    never retried. Path-style addressing is used with an endpoint override, since dotted bucket
    names (`qnt.data`) cannot be virtual hosts on a loopback or TLS endpoint. Building a client
    costs tens of ms: build one per run (or per worker), not one per object.
    """
    if max_pool_connections < 1:
        raise ConfigError(f"max_pool_connections must be >= 1, got {max_pool_connections}")
    config = Config(
        region_name=source.region,
        max_pool_connections=max_pool_connections,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": "path" if source.endpoint_url else "auto"},
    )
    if source.unsigned:
        config = config.merge(Config(signature_version=UNSIGNED))
        session = boto3.session.Session(region_name=source.region)
    else:
        creds = resolve_credentials(credentials, environ)
        if creds is None:
            session = boto3.session.Session(region_name=source.region)
        else:
            session = boto3.session.Session(
                aws_access_key_id=creds.access_key_id,
                aws_secret_access_key=creds.secret_access_key.get_secret_value(),
                aws_session_token=(
                    creds.session_token.get_secret_value() if creds.session_token else None
                ),
                region_name=source.region,
            )
    return session.client("s3", endpoint_url=source.endpoint_url, config=config)


def remote_error(
    exc: BaseException, what: str, details: Mapping[str, str] | None = None
) -> RemoteError:
    """Classify an S3 failure (one of `S3_ERRORS`) into feedcheck's RemoteError hierarchy.

    403 and credential problems → AccessDeniedError; 404 / NoSuchKey / NoSuchBucket →
    NotFoundError; 5xx, 429, throttling and transport failures → TransientRemoteError; any other
    4xx → RemoteError (not retried). The reason holds only the S3 error code and message, which
    never contain the secret key.
    """
    info = dict(details or {})
    if isinstance(exc, bex.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(error.get("Code", status))
        message = str(error.get("Message", "")).strip()
        operation = getattr(exc, "operation_name", "request")
        reason = f"{operation} failed with {code}" + (f" ({message})" if message else "")
        info["code"] = code
        if status == 403 or code in _DENIED_CODES:
            return AccessDeniedError(what, reason, status, info)
        if status == 404 or code in _NOT_FOUND_CODES:
            return NotFoundError(what, reason, status, info)
        if (status is not None and status >= 500) or status == 429 or code in _TRANSIENT_CODES:
            return TransientRemoteError(what, reason, status, info)
        return RemoteError(what, reason, status, info)
    if isinstance(exc, _CREDENTIAL_ERRORS):
        reason = (
            f"no usable credentials ({type(exc).__name__}); set {ENV_ACCESS_KEY_ID} and "
            f"{ENV_SECRET_ACCESS_KEY}, pass a Secret block, or configure the AWS chain"
        )
        return AccessDeniedError(what, reason, None, info)
    if isinstance(exc, TRANSIENT_TRANSPORT_ERRORS):
        reason = f"transport failure: {type(exc).__name__}: {exc}"
        return TransientRemoteError(what, reason, None, info)
    raise TypeError(f"remote_error cannot classify {type(exc).__name__}") from exc


def exponential_backoff(
    initial_s: float = BACKOFF_INITIAL_S,
    max_s: float = BACKOFF_MAX_S,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Endless delays in seconds: uniform(0, min(max_s, initial_s * 2**n)) for n = 0, 1, 2, …

    Full jitter keeps parallel downloads from retrying in lockstep; the cap bounds one wait.
    `rng` returns floats in [0, 1); pass `lambda: 1.0` to get the deterministic envelope.
    """
    n = 0
    while True:
        yield rng() * min(max_s, initial_s * 2.0**n)
        n += 1


def call_with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    details: Mapping[str, str] | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: Backoff = exponential_backoff,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `fn` (one S3 call), retrying transient failures up to `attempts` calls in total.

    `fn` may raise raw botocore errors (classified with `remote_error`) or a TransientRemoteError
    of its own; non-transient errors propagate at once, never retried. Only the network call
    belongs in `fn`: local disk errors are OSErrors too and must not be retried as remote ones.
    Raises the last TransientRemoteError when every attempt failed.
    """
    if attempts < 1:
        raise ConfigError(f"attempts must be >= 1, got {attempts}")
    delays = backoff()
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except TransientRemoteError as exc:
            if attempt == attempts:
                raise
            reason = str(exc)
        except S3_ERRORS as exc:
            mapped = remote_error(exc, what, details)
            if not isinstance(mapped, TransientRemoteError) or attempt == attempts:
                raise mapped from exc
            reason = str(mapped)
        delay_s = next(delays)
        _log.warning(
            "attempt %d/%d failed, retrying in %.3f s: %s", attempt, attempts, delay_s, reason
        )
        sleep(delay_s)
    raise AssertionError("unreachable: the loop returns or raises")
