"""``manage.py replay_workflows`` and ``export_history``: the pre-deploy replay check."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command

from temporalflow.client import Client

from .conftest import running_worker, wf_id
from .replay_modules import v1

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _use(settings: Any, module: str) -> None:
    settings.TEMPORALFLOW = {**settings.TEMPORALFLOW, "WORKFLOW_MODULES": [module]}


def _call(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


async def _record(client: Client, n: int = 2) -> list[str]:
    ids = [wf_id() for _ in range(n)]
    async with running_worker(client, [v1.ReplayMe], [v1.greet]) as w:
        for key in ids:
            assert await client.execute_workflow(v1.ReplayMe.run, key, id=key, task_queue=w.task_queue) == \
                f"Hello, {key}"
    return ids


async def test_replaying_unchanged_code_passes(client: Client, settings: Any) -> None:
    await _record(client)
    _use(settings, "tests.integration.engine.replay_modules.v1")
    out, err = await sync_to_async(_call)("replay_workflows", "-t", "ReplayMe")
    assert "Replayed 2 histories: 2 ok, 0 failed." in out
    assert err == ""


async def test_a_nondeterministic_change_fails_and_names_the_runs(client: Client, settings: Any) -> None:
    ids = await _record(client)
    _use(settings, "tests.integration.engine.replay_modules.v2")
    err = StringIO()
    with pytest.raises(CommandError) as failure:
        await sync_to_async(call_command)("replay_workflows", "-t", "ReplayMe", stdout=StringIO(), stderr=err)
    assert failure.value.returncode == 1
    assert "2 of 2 histories do not replay" in str(failure.value)
    for key in ids:
        assert f"FAILED {key}" in err.getvalue()
    assert "TMPRL1100" in err.getvalue()


async def test_exported_histories_replay_from_files(client: Client, settings: Any, tmp_path: Path) -> None:
    [key] = await _record(client, 1)
    target = tmp_path / "replay-me.json"
    await sync_to_async(_call)("export_history", key, "-o", str(target))
    assert json.loads(target.read_text())["workflow_id"] == key
    _use(settings, "tests.integration.engine.replay_modules.v1")
    out, _ = await sync_to_async(_call)("replay_workflows", "--no-database", "--file", str(target))
    assert "1 ok, 0 failed" in out
    _use(settings, "tests.integration.engine.replay_modules.v2")
    with pytest.raises(CommandError, match="1 of 1 histories"):
        await sync_to_async(_call)("replay_workflows", "--no-database", "--file", str(target))


async def test_bad_arguments_are_clear_errors(client: Client, settings: Any, tmp_path: Path) -> None:
    _use(settings, "tests.integration.engine.replay_modules.v1")
    with pytest.raises(CommandError, match="NoSuchType.*not found among the discovered workflows"):
        await sync_to_async(_call)("replay_workflows", "-t", "NoSuchType")
    with pytest.raises(CommandError, match="cannot read history file"):
        await sync_to_async(_call)("replay_workflows", "--no-database", "--file", str(tmp_path / "missing.json"))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(CommandError, match="is not JSON"):
        await sync_to_async(_call)("replay_workflows", "--no-database", "--file", str(garbage))
    with pytest.raises(CommandError, match="bad --query"):
        await sync_to_async(_call)("replay_workflows", "-t", "ReplayMe", "--query", "Bogus ==== 1")
    with pytest.raises(CommandError, match="cannot export"):
        await sync_to_async(_call)("export_history", "no-such-workflow")
