"""Connecting to Temporal: retried with backoff so the API and worker start before Temporal is up."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from core.config import Settings

log = logging.getLogger(__name__)

# Custom search attributes that operations filter cases by in the Temporal Web UI.
SEARCH_ATTRIBUTES = {
    "CaseReference": "Keyword",
    "Locality": "Keyword",
    "CaseStage": "Keyword",
    "NextDeadline": "Datetime",
}


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


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
                log.info("connected to Temporal at %s", self._settings.temporal_address)
            except Exception as error:  # any failure to connect is retried; health shows it
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning(
                    "Temporal at %s not reachable (%s); retrying in %.0fs",
                    self._settings.temporal_address,
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
