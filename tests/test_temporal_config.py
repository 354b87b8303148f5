"""Connecting to Temporal by configuration alone: Temporal's environment configuration (a TOML profile,
`TEMPORAL_*` variables) gives TLS, mTLS and API keys; this service's settings give the address and
namespace when they are set."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from core.config import Settings
from core.temporal import connect_options, describe

TEMPORAL_VARIABLES = (
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_PROFILE",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in TEMPORAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # No config file of the machine's own (the SDK's default place is under the home directory).
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def test_nothing_configured_means_the_local_dev_server() -> None:
    options = connect_options(Settings())
    assert options == {"target_host": "localhost:7233", "namespace": "default"}


def test_temporal_cloud_by_api_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "council.a1b2c.tmprl.cloud:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "council.a1b2c")
    monkeypatch.setenv("TEMPORAL_API_KEY", "not-a-real-key")
    options = connect_options(Settings())
    assert options["target_host"] == "council.a1b2c.tmprl.cloud:7233"
    assert options["namespace"] == "council.a1b2c"
    assert options["api_key"] == "not-a-real-key"
    assert options["tls"] is True
    # Logs say where, never the key.
    assert "not-a-real-key" not in describe(Settings())
    assert "(TLS)" in describe(Settings())


def test_self_hosted_mtls_by_a_profile_in_a_config_file(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (tmp_path / "client.key").write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    config = tmp_path / "temporal.toml"
    config.write_text(
        f"""
[profile.production]
address = "temporal.internal.council.example:7233"
namespace = "community-trigger"

[profile.production.tls]
client_cert_path = "{tmp_path / "client.pem"}"
client_key_path = "{tmp_path / "client.key"}"
server_name = "temporal.internal.council.example"
"""
    )
    settings = Settings(temporal_profile="production", temporal_config_file=config)
    options = connect_options(settings)
    assert options["target_host"] == "temporal.internal.council.example:7233"
    assert options["namespace"] == "community-trigger"
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert is not None and b"BEGIN CERTIFICATE" in tls.client_cert
    assert tls.client_private_key is not None and b"PRIVATE KEY" in tls.client_private_key
    assert tls.domain == "temporal.internal.council.example"

    # This service's own setting, when set, wins over the profile's address.
    pinned = Settings(
        temporal_profile="production", temporal_config_file=config, temporal_address="10.0.0.5:7233"
    )
    assert connect_options(pinned)["target_host"] == "10.0.0.5:7233"


def test_a_profile_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text('[profile.default]\naddress = "localhost:7233"\n')
    settings = Settings(temporal_profile="producton", temporal_config_file=config)
    with pytest.raises(Exception, match="producton"):
        connect_options(settings)
    assert "not readable" in describe(settings)
