"""``manage.py export_history``: write a run's history as JSON, for ``replay_workflows --file``.

    python manage.py export_history order-42 > histories/order-42.json
    python manage.py export_history order-42 --run-id 3f0c... -o histories/order-42.json

Keep a few exported histories of each workflow type in the repository and replay them in
CI: the same check as replaying the production database, without access to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from temporalflow.client import SyncClient
from temporalflow.conf import get_data_converter, settings
from temporalflow.service import RPCError
from temporalflow.store import get_store


class Command(BaseCommand):
    """Write one run's history (the latest run unless ``--run-id``) as JSON."""

    help = "Export a workflow run's history as JSON (for manage.py replay_workflows --file)."

    def add_arguments(self, parser: Any) -> None:
        """Command-line options."""
        parser.add_argument("workflow_id", help="The workflow id.")
        parser.add_argument("--run-id", default=None, help="A specific run (default: the latest).")
        parser.add_argument("-o", "--output", default=None, help="File to write (default: standard output).")
        parser.add_argument("--namespace", default=None, help="Namespace (default: TEMPORALFLOW['NAMESPACE']).")
        parser.add_argument("--database", default=None, help="Django database alias (default: TEMPORALFLOW's).")

    def handle(self, *args: Any, **options: Any) -> None:
        """Read the history and write it out."""
        client = SyncClient(get_store(options["database"]), namespace=options["namespace"] or settings.NAMESPACE,
                            data_converter=get_data_converter())
        try:
            history = client.get_workflow_handle(options["workflow_id"], run_id=options["run_id"]).fetch_history()
        except RPCError as err:
            raise CommandError(f"cannot export {options['workflow_id']}: {err}") from None
        text = history.to_json()
        if options["output"]:
            try:
                Path(options["output"]).write_text(text + "\n")
            except OSError as err:
                raise CommandError(f"cannot write {options['output']}: {err.strerror}") from None
            self.stderr.write(f"Wrote {len(history.events)} events of {history.workflow_id} "
                              f"(run {history.run_id}) to {options['output']}")
        else:
            self.stdout.write(text)
