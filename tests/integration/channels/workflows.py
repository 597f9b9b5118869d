"""Workflows the Channels tests run."""

from __future__ import annotations

from temporalflow import workflow


@workflow.defn
class ChatWorkflow:
    """Collects ``say`` signals until ``done`` arrives, then returns them."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.finished = False

    @workflow.run
    async def run(self, topic: str) -> dict:
        await workflow.wait_condition(lambda: self.finished)
        return {"topic": topic, "lines": self.lines}

    @workflow.signal
    def say(self, line: str) -> None:
        self.lines.append(line)

    @workflow.signal
    def done(self) -> None:
        self.finished = True
