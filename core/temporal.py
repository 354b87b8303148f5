"""Connecting to Temporal: through the SDK's environment configuration (so Temporal Cloud or a cluster with
mTLS needs configuration only), retried with backoff so the API and worker start before Temporal is up."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from core.codec import data_converter_for
from core.config import Settings
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

log = logging.getLogger(__name__)

# Custom search attributes that operations filter cases by in the Temporal Web UI.
SEARCH_ATTRIBUTES = SEARCH_ATTRIBUTE_TYPES


def connect_options(settings: Settings) -> dict[str, Any]:
    """`Client.connect`'s arguments from Temporal's environment configuration.

    That is the profile (`TEMPORAL_PROFILE`, default "default") of the TOML file at `TEMPORAL_CONFIG_FILE`
    (or the SDK's default place), overridden by the `TEMPORAL_*` variables: `TEMPORAL_API_KEY`,
    `TEMPORAL_TLS`, `TEMPORAL_TLS_CLIENT_CERT_PATH`, `TEMPORAL_TLS_CLIENT_KEY_PATH`,
    `TEMPORAL_TLS_SERVER_CA_CERT_PATH`, `TEMPORAL_TLS_SERVER_NAME` and the rest. The address and namespace
    are this service's settings when they were set, else the profile's, else the local defaults.
    """
    options: dict[str, Any] = dict(
        ClientConfig.load_client_connect_config(
            profile=settings.temporal_profile,
            config_file=str(settings.temporal_config_file) if settings.temporal_config_file else None,
        )
    )
    for field, option in (("temporal_address", "target_host"), ("temporal_namespace", "namespace")):
        if field in settings.model_fields_set or option not in options:
            options[option] = getattr(settings, field)
    return options


def describe(settings: Settings) -> str:
    """Where a client connects, for logs: never the API key or certificates."""
    try:
        options = connect_options(settings)
    except Exception as error:  # a broken configuration file: say so where the address would be
        return f"<Temporal configuration not readable: {type(error).__name__}>"
    secure = " (TLS)" if options.get("tls") else ""
    return f"{options['target_host']} namespace {options['namespace']}{secure}"


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client; `runtime` (core/telemetry.py) reports its and its workers' metrics, else the SDK default."""
    options = connect_options(settings)
    return await Client.connect(**options, data_converter=data_converter_for(settings), runtime=runtime)


class TemporalConnection:
    """Keeps trying to connect in the background; `client` is None (and health says why) until it works."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.client: Client | None = None
        self.last_error: str | None = "not connected yet"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_trying())

    async def _keep_trying(self) -> None:
        delay = 0.5
        while self.client is None:
            try:
                self.client = await connect(self._settings)
                self.last_error = None
                log.info("connected to Temporal at %s", describe(self._settings))
            except Exception as error:  # any failure to connect is retried; health shows it
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning(
                    "Temporal at %s not reachable (%s); retrying in %.0fs",
                    describe(self._settings),
                    type(error).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
