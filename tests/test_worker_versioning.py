"""Worker Deployment Versioning: with WORKER_BUILD_ID set, the worker is a version of the
`community-trigger` deployment; once operations make it the current version, cases run on it, with
auto-upgrade (a months-long case moves to each new current version at its next workflow task)."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.common import VersioningBehavior

from core.config import Settings
from devstack.mail_sink import MailSink
from domain.calendar import london_date
from tests import support
from tests.stack import own_stack, start_dev_server
from worker import build_worker, deployment_for


def test_no_build_id_no_versioning() -> None:
    assert deployment_for(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    config = deployment_for(Settings(worker_build_id="3f6e659", _env_file=None))  # type: ignore[call-arg]
    assert config is not None and config.use_worker_versioning
    assert config.version.deployment_name == "community-trigger" and config.version.build_id == "3f6e659"
    assert config.default_versioning_behavior == VersioningBehavior.AUTO_UPGRADE


async def test_a_versioned_worker_runs_cases_once_it_is_the_current_version(tmp_path: Path) -> None:
    env = await start_dev_server()
    try:
        with MailSink(tmp_path / "mail", port=0) as sink:
            async with own_stack(env, sink, tmp_path, in_process_worker=False) as service:
                settings = service.settings.model_copy(update={"worker_build_id": "release-1"})
                with ThreadPoolExecutor(max_workers=4) as executor:
                    async with build_worker(settings, env.client, executor):
                        address = env.client.service_client.config.target_host
                        for _ in range(100):  # until the server has seen the version's pollers
                            made_current = await asyncio.to_thread(
                                subprocess.run,
                                [
                                    support.venv_tool("temporal") or "temporal",
                                    "worker",
                                    "deployment",
                                    "set-current-version",
                                    "--deployment-name",
                                    "community-trigger",
                                    "--build-id",
                                    "release-1",
                                    "--address",
                                    address,
                                    "--yes",
                                ],
                                capture_output=True,
                                text=True,
                                check=False,
                            )
                            if made_current.returncode == 0:
                                break
                            await asyncio.sleep(0.2)
                        assert made_current.returncode == 0, made_current.stderr
                        today = london_date(dt.datetime.now(dt.UTC))
                        reference = await service.open_case(support.application(today=today))
                        description = await env.client.get_workflow_handle(f"Case:{reference}").describe()
                        assert (
                            description.raw_description.workflow_execution_info.versioning_info.behavior
                            == (VersioningBehavior.AUTO_UPGRADE.value)
                        )
    finally:
        await env.shutdown()
