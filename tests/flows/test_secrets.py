"""Lake credentials from a Prefect Secret block (real blocks on the session's Prefect server)."""

from __future__ import annotations

import pytest
from prefect.blocks.system import Secret

from feedcheck.errors import ConfigError
from feedcheck.settings import LakeSettings
from feedcheck.tasks.secrets import credentials_from_secret_value, lake_credentials

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_block_holding_a_mapping_gives_masked_credentials():
    Secret(value={"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": SECRET}).save(
        "lake-keys-json", overwrite=True
    )
    creds = lake_credentials(LakeSettings(secret_block="lake-keys-json"))
    assert creds is not None
    assert creds.access_key_id == "AKIAEXAMPLE"
    assert creds.secret_access_key.get_secret_value() == SECRET
    assert SECRET not in repr(creds) and SECRET not in str(creds)


def test_block_holding_id_colon_secret():
    Secret(value=f"AKIAOTHER:{SECRET}").save("lake-keys-pair", overwrite=True)
    creds = lake_credentials(LakeSettings(secret_block="lake-keys-pair"))
    assert creds is not None and creds.access_key_id == "AKIAOTHER"


def test_block_beats_env_and_sample_needs_none(monkeypatch):
    monkeypatch.setenv("FEEDCHECK_LAKE_AWS_ACCESS_KEY_ID", "FROMENV")
    monkeypatch.setenv("FEEDCHECK_LAKE_AWS_SECRET_ACCESS_KEY", "envsecret")
    Secret(value=f"AKIABLOCK:{SECRET}").save("lake-keys-win", overwrite=True)
    assert lake_credentials(LakeSettings(secret_block="lake-keys-win")).access_key_id == "AKIABLOCK"
    assert lake_credentials(LakeSettings()).access_key_id == "FROMENV"
    assert lake_credentials(LakeSettings(sample=True)) is None


def test_missing_block_names_it():
    with pytest.raises(ConfigError, match="'no-such-lake-block' not found"):
        lake_credentials(LakeSettings(secret_block="no-such-lake-block"))


def test_malformed_value_is_named_by_block_never_echoed():
    with pytest.raises(ConfigError) as info:
        credentials_from_secret_value("just-one-opaque-token-" + SECRET, "lake-bad")
    assert "lake-bad" in str(info.value)
    assert SECRET not in str(info.value)
