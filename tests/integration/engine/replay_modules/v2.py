"""Version 2 of ReplayMe: the timer was removed, which breaks runs recorded by version 1."""

from datetime import timedelta

from temporalflow import workflow

from .v1 import greet


@workflow.defn(name="ReplayMe")
class ReplayMe:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=5))
