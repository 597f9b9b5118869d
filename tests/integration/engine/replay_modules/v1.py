"""Version 1 of a workflow the replay command tests record."""

from datetime import timedelta

from temporalflow import activity, workflow


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}"


@workflow.defn(name="ReplayMe")
class ReplayMe:
    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(0.01)
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=5))
