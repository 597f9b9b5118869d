"""``manage.py replay_workflows``: replay recorded histories against the current workflow code.

Run it in CI before a deploy: it fails (exit status 1) when a change to a workflow would
break runs already recorded — a non-determinism error, or any other failure to replay —
and names each run and the error::

    python manage.py replay_workflows                         # recent runs of every discovered type
    python manage.py replay_workflows -t OrderWorkflow --limit 200
    python manage.py replay_workflows --query "ExecutionStatus = 'Running'"
    python manage.py replay_workflows --file histories/order-1.json --file histories/order-2.json

Histories come from this project's database (newest runs first, through ``list_workflows``)
and/or from files written by ``manage.py export_history`` (or ``WorkflowHistory.to_json()``).
The workflow classes are the ones ``runworker`` discovers.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from temporalflow.client import SyncClient, WorkflowHistory
from temporalflow.conf import get_data_converter, settings
from temporalflow.core.definitions import WorkflowDefinition
from temporalflow.discovery import discover
from temporalflow.service import RPCError
from temporalflow.store import get_store
from temporalflow.worker import Replayer


class Command(BaseCommand):
    """Replay recorded histories against the current workflow code; exit 1 on any failure."""

    help = "Replay recorded workflow histories against the current code and report non-determinism."

    def add_arguments(self, parser: Any) -> None:
        """Command-line options."""
        parser.add_argument("-t", "--workflow-type", action="append", default=[], dest="types",
                            help="Workflow type to replay (repeatable; default: every discovered type).")
        parser.add_argument("--limit", type=int, default=100,
                            help="Most recent runs per workflow type (default 100).")
        parser.add_argument("--query", default="",
                            help="Extra list filter ANDed to the type, e.g. \"ExecutionStatus = 'Running'\".")
        parser.add_argument("--file", action="append", default=[], dest="files",
                            help="A history exported as JSON (repeatable); replayed in addition to the database's.")
        parser.add_argument("--no-database", action="store_true",
                            help="Replay only the --file histories.")
        parser.add_argument("--namespace", default=None, help="Namespace (default: TEMPORALFLOW['NAMESPACE']).")
        parser.add_argument("--database", default=None, help="Django database alias (default: TEMPORALFLOW's).")

    def handle(self, *args: Any, **options: Any) -> None:
        """Collect the histories, replay them, report."""
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        workflows, _ = discover()
        known = {WorkflowDefinition.must_from_class(cls).name: cls for cls in workflows}
        unknown = [t for t in options["types"] if t not in known]
        if unknown:
            listed = ", ".join(sorted(n for n in known if n)) or "none"
            raise CommandError(f"workflow type(s) {', '.join(unknown)} not found among the discovered workflows "
                               f"({listed}); check WORKFLOW_MODULES or the apps' workflows.py")
        histories = [self._read_file(path) for path in options["files"]]
        if not options["no_database"]:
            histories += self._from_database(options, [t for t in (options["types"] or known) if t])
        if not histories:
            self.stdout.write("No histories to replay.")
            return
        replayer = Replayer(workflows=workflows, namespace=options["namespace"] or settings.NAMESPACE,
                            data_converter=get_data_converter())
        failures = 0
        for history in histories:
            result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))
            if result.replay_failure is not None:
                failures += 1
                self.stderr.write(f"FAILED {history.workflow_id} (run {history.run_id}): {result.replay_failure}")
        self.stdout.write(f"Replayed {len(histories)} histories: {len(histories) - failures} ok, {failures} failed.")
        if failures:
            raise CommandError(f"{failures} of {len(histories)} histories do not replay with the current code",
                               returncode=1)

    def _read_file(self, path: str) -> WorkflowHistory:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as err:
            raise CommandError(f"cannot read history file {path}: {err.strerror}") from None
        except ValueError as err:
            raise CommandError(f"history file {path} is not JSON: {err}") from None
        if not isinstance(data, dict) or not isinstance(data.get("events"), list):
            raise CommandError(f"history file {path} is not an exported workflow history (no \"events\" list)")
        try:
            return WorkflowHistory.from_json(str(data.get("workflow_id") or Path(path).stem), data)
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise CommandError(f"history file {path} is not an exported workflow history: {err}") from None

    def _from_database(self, options: dict[str, Any], types: list[str]) -> list[WorkflowHistory]:
        client = SyncClient(get_store(options["database"]), namespace=options["namespace"] or settings.NAMESPACE,
                            data_converter=get_data_converter())
        histories: list[WorkflowHistory] = []
        for name in sorted(types):
            quoted = name.replace("'", "''")
            query = f"WorkflowType = '{quoted}'"
            if options["query"]:
                query += f" AND ({options['query']})"
            try:
                runs = list(client.list_workflows(query, limit=options["limit"]))
            except RPCError as err:
                raise CommandError(f"bad --query: {err}") from None
            for run in runs:
                handle = client.get_workflow_handle(run.id, run_id=run.run_id)
                histories.append(handle.fetch_history())
        return histories
