"""Workflow tasks: claimed lease → cached or replayed instance → activation → completion."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from temporalflow import metrics
from temporalflow.core import activation as jobs
from temporalflow.core import commands as cmds
from temporalflow.core import search_attributes
from temporalflow.core.definitions import WorkflowDefinition
from temporalflow.core.errors import DeadlockError, NondeterminismError
from temporalflow.core.events import EventType, HistoryEvent
from temporalflow.core.instance import WorkflowInstance
from temporalflow.core.machines import CacheInvalidError, HistoryGapError, RunDriver
from temporalflow.core.payload import payloads_size
from temporalflow.core.payload_visitor import decode_events, visit_commands, visit_payloads
from temporalflow.exceptions import ApplicationError
from temporalflow.store import base as sb
from temporalflow.worker._local_activity import LocalActivityRunner
from temporalflow.worker._run_state import RunCache, RunLock

logger = logging.getLogger("temporalflow.worker")


def _log_extra(lease: sb.WorkflowTaskLease | sb.QueryTask) -> dict[str, Any]:
    """Structured-log fields of a worker line about one run."""
    return {"workflow_id": lease.workflow_id, "run_id": lease.run_id, "workflow_type": lease.workflow_type,
            "namespace": lease.namespace}


def _codec_error(what: str, lease: sb.WorkflowTaskLease, err: BaseException) -> ApplicationError:
    """The task failure for a payload codec that raised (temporalio: "Failed decoding activation")."""
    error = ApplicationError(
        f"Failed {what} of workflow {lease.workflow_id} (run {lease.run_id}) with the payload codec: "
        f"{type(err).__name__}: {err}", type=type(err).__name__)
    error.__cause__ = err
    return error


class WorkflowRegistry:
    """Workflow definitions by type name (None: the dynamic workflow)."""

    def __init__(self, workflows: Sequence[type]) -> None:
        self.by_name: dict[str | None, WorkflowDefinition] = {}
        for cls in workflows:
            defn = WorkflowDefinition.must_from_class(cls)
            if defn.name in self.by_name:
                what = "dynamic workflow" if defn.name is None else f"workflow named {defn.name!r}"
                raise ValueError(f"more than one {what} given to the worker")
            self.by_name[defn.name] = defn

    def get(self, name: str) -> WorkflowDefinition:
        """The definition for ``name``; a clear error listing the registered types if unknown."""
        defn = self.by_name.get(name) or self.by_name.get(None)
        if defn is None:
            known = ", ".join(sorted(n for n in self.by_name if n is not None))
            raise ApplicationError(
                f"Workflow class {name} is not registered on this worker, available workflows: {known}",
                type="NotFoundError",
            )
        return defn


@dataclass(slots=True)
class _Inline:
    """An activation made inside a store transaction (a claim's or an activity's), awaiting its outcome."""

    driver: RunDriver
    completion: jobs.Completion
    reserved: int
    started_event_id: int
    """The task it was made for (what :meth:`WorkflowTaskRunner.abandon` matches)."""


class WorkflowTaskRunner:
    """Runs workflow tasks and queries for one worker."""

    def __init__(
        self,
        *,
        store: sb.Store,
        namespace: str,
        task_queue: str,
        identity: str,
        registry: WorkflowRegistry,
        data_converter: Any,
        cache: RunCache,
        db: Callable[..., Awaitable[Any]],
        executor: Executor,
        deadlock_timeout: float | None,
        failure_exception_types: Sequence[type[BaseException]],
        eager_activity_slots: Callable[[int], int],
        on_eager_activities: Callable[[list[sb.ActivityTaskLease], int], None],
        continue_as_new_suggested_at: int = 10240,
        history_count_limit: int = 51200,
        payload_size_limit: int = 2 * 1024 * 1024,
        local_activities: LocalActivityRunner | None = None,
    ) -> None:
        self.store = store
        self.local_activities = local_activities
        self.namespace = namespace
        self.task_queue = task_queue
        self.identity = identity
        self.registry = registry
        self.converter = data_converter
        self.cache = cache
        self.db = db
        self.executor = executor
        self.deadlock_timeout = deadlock_timeout
        self.failure_exception_types = tuple(failure_exception_types)
        self.eager_activity_slots = eager_activity_slots
        self.on_eager_activities = on_eager_activities
        self.suggest_at = continue_as_new_suggested_at
        self.history_limit = history_count_limit
        self.payload_size_limit = payload_size_limit
        self._run_locks: dict[str, RunLock] = {}
        self._locks_mutex = threading.Lock()
        self._inline: dict[str, _Inline] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        """The worker's loop (set when it runs), for :meth:`run_inline` from database threads."""

    def _lock(self, run_id: str) -> RunLock:
        with self._locks_mutex:
            lock = self._run_locks.get(run_id)
            if lock is None:
                lock = self._run_locks[run_id] = RunLock()
            return lock

    def _try_lock(self, run_id: str) -> RunLock | None:
        """The run's lock, taken, or None if it is held (from any thread)."""
        with self._locks_mutex:
            lock = self._run_locks.get(run_id)
            if lock is None:
                lock = self._run_locks[run_id] = RunLock()
            return lock if lock.try_acquire() else None

    def _forget_lock(self, run_id: str) -> None:
        """Drop a run's lock once nobody holds it (a later task makes a new one)."""
        with self._locks_mutex:
            lock = self._run_locks.get(run_id)
            if lock is not None and not lock.locked():
                del self._run_locks[run_id]

    def _new_driver(self, workflow_id: str, run_id: str) -> RunDriver:
        def factory(ev: HistoryEvent) -> WorkflowInstance:
            defn = self.registry.get((ev.attributes.get("workflow_type") or {}).get("name", ""))
            return WorkflowInstance(
                defn, namespace=self.namespace, workflow_id=workflow_id, run_id=run_id,
                payload_converter=self.converter.payload_converter,
                failure_converter=self.converter.failure_converter,
                failure_exception_types=self.failure_exception_types,
            )

        return RunDriver(factory, continue_as_new_suggested_at=self.suggest_at)

    async def handle(self, lease: sb.WorkflowTaskLease) -> None:
        """Process a claimed task, and any follow-up task the completion hands straight back."""
        next_lease: sb.WorkflowTaskLease | None = lease
        while next_lease is not None:
            async with self._lock(next_lease.run_id):
                next_lease = await self._handle_one(next_lease)
        self._forget_lock(lease.run_id)

    async def _handle_one(self, lease: sb.WorkflowTaskLease) -> sb.WorkflowTaskLease | None:
        if lease.started_event_id > self.history_limit:
            # As Temporal does: a run past the history limit is terminated, not left stuck.
            self.cache.evict(lease.run_id)
            logger.warning("Terminating workflow %s (run %s): history of %d events exceeds the limit of %d",
                           lease.workflow_id, lease.run_id, lease.started_event_id, self.history_limit,
                           extra=_log_extra(lease))
            try:
                await self.db(self.store.terminate, lease.namespace, lease.workflow_id, lease.run_id,
                              "Workflow history count exceeds limit.", None, self.identity)
            except sb.StoreError:
                pass
            return None
        completion, driver = await self._activate(lease)
        return await self._complete(lease, driver, completion)

    async def _complete(
        self, lease: sb.WorkflowTaskLease, driver: RunDriver, completion: jobs.Completion,
    ) -> sb.WorkflowTaskLease | None:
        """Run the completion's local activities (if any), then hand it to the store."""
        if completion.failure is None and _has_local(completion):
            completion = await self._run_local_activities(lease, driver, completion)
            if completion is None:
                return None
        completion = await self._encode_completion(lease, completion)
        if completion.failure is not None:
            await self._fail_task(lease, completion)
            return None
        reserved = self._reserve_eager(lease, completion)
        try:
            result = await self.db(self.store.complete_workflow_task, lease, sb.WorkflowTaskCompletion(
                commands=completion.commands, identity=self.identity, sticky=self.cache.size > 0,
                eager_activity_slots=reserved))
        except sb.StaleTask:
            self.on_eager_activities([], reserved)
            self.cache.evict(lease.run_id)
            logger.info("Workflow task for %s (run %s) was no longer current; dropped", lease.workflow_id,
                        lease.run_id, extra=_log_extra(lease))
            return None
        except BaseException:
            self.on_eager_activities([], reserved)
            self.cache.evict(lease.run_id)
            raise
        self._after_completion(lease, driver, completion, result, reserved)
        return result.next_task

    async def _run_local_activities(
        self, lease: sb.WorkflowTaskLease, driver: RunDriver, completion: jobs.Completion,
    ) -> jobs.Completion | None:
        """Run the local activities the task scheduled, feeding each outcome back to the run.

        Each outcome becomes a marker in the completion, followed by the commands the
        workflow produced on seeing it — one outcome per activation, in the order they
        finish, so replay (which resolves them at their markers) sees the same thing.
        The task's lease is extended while they run. None: the task was lost meanwhile.
        """
        runner = self.local_activities
        commands: list[cmds.Command] = []
        running: dict[int, tuple[cmds.ScheduleLocalActivity, asyncio.Task[Any]]] = {}

        def take(c: jobs.Completion) -> None:
            for cmd in c.commands:
                if isinstance(cmd, cmds.ScheduleLocalActivity):
                    if runner is None:
                        raise RuntimeError("this worker cannot run local activities")
                    running[cmd.seq] = (cmd, asyncio.get_running_loop().create_task(runner.run(lease, cmd)))
                elif isinstance(cmd, cmds.RequestCancelLocalActivity):
                    entry = running.get(cmd.seq)
                    if entry is not None:
                        entry[1].cancel()
                else:
                    commands.append(cmd)

        def closing() -> bool:
            return any(isinstance(c, cmds.CLOSING_COMMANDS) for c in commands)

        # Extend the task's lease at half its timeout, as long as local activities run.
        heartbeat_every = max(0.1, lease.task_timeout / 2)
        next_heartbeat = time.monotonic() + heartbeat_every
        try:
            take(completion)
            while running and not closing():
                timeout = max(0.0, next_heartbeat - time.monotonic())
                done, _ = await asyncio.wait([t for _, t in running.values()], timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    try:
                        task_timeout = await self.db(self.store.heartbeat_workflow_task, lease)
                    except sb.StaleTask:
                        self.cache.evict(lease.run_id)
                        logger.info("Workflow task for %s (run %s) was lost while its local activities ran",
                                    lease.workflow_id, lease.run_id, extra=_log_extra(lease))
                        return None
                    heartbeat_every = max(0.5, task_timeout / 2)
                    next_heartbeat = time.monotonic() + heartbeat_every
                    continue
                for seq in sorted(s for s, (_, t) in running.items() if t in done):
                    cmd, task = running.pop(seq)
                    assert runner is not None
                    outcome = task.result() if not task.cancelled() else runner.cancelled(cmd, cmd.attempt)
                    commands.append(outcome.marker)
                    nxt = await self._in_thread(lambda r=outcome.resolution: driver.resolve_local([r]))
                    if nxt.failure is not None:
                        return nxt
                    take(nxt)
                    if closing():
                        break
        except Exception as err:  # noqa: BLE001 - a broken activation fails the task, as any other
            return self._failure(err, "WorkflowWorkerUnhandledFailure")
        finally:
            for _, task in running.values():
                task.cancel()  # the run closed with them still running: nobody waits for them
        return jobs.Completion(commands=commands)

    def _reserve_eager(self, lease: sb.WorkflowTaskLease, completion: jobs.Completion) -> int:
        """Activity slots for the completion's activities on the run's own queue (started at once)."""
        wanted = sum(1 for c in completion.commands
                     if isinstance(c, cmds.ScheduleActivityTask) and c.task_queue == lease.task_queue)
        return self.eager_activity_slots(wanted) if wanted else 0

    async def _fail_task(self, lease: sb.WorkflowTaskLease, completion: jobs.Completion) -> None:
        """Record the task's failure (it is retried with backoff); the cached run goes."""
        self.cache.evict(lease.run_id)
        self._log_task_failure(lease, completion)
        metrics.workflow_task_failed(lease, completion.cause)
        failure = await self._encoded_failure(completion.failure, "the workflow task failure")
        try:
            await self.db(self.store.fail_workflow_task, lease, completion.cause, failure, self.identity)
        except sb.StaleTask:
            pass

    def _after_completion(
        self, lease: sb.WorkflowTaskLease, driver: RunDriver, completion: jobs.Completion,
        result: sb.CompleteWorkflowTaskResult, reserved: int,
    ) -> None:
        """The store accepted ``completion``: start the eager activities, keep or drop the run."""
        self.on_eager_activities(result.activity_leases, reserved)
        if result.rejected or result.run_closed:
            if result.run_closed and not result.rejected:
                metrics.workflow_closed_by_commands(lease, completion.commands)
            self.cache.evict(lease.run_id)
        else:
            driver.mark_unmatched(completion)
            if self._absorb(driver, result.history):
                self.cache.put(lease.run_id, driver)
            else:
                self.cache.evict(lease.run_id)

    # --- a task completed in the transaction of the activity that woke it -------------

    def run_inline(self, lease: sb.WorkflowTaskLease) -> sb.WorkflowTaskCompletion | None:
        """Activate the run of a task an activity's completion just started (see :meth:`run_inline_batch`)."""
        return self.run_inline_batch([lease])[0]

    def run_inline_batch(self, leases: list[sb.WorkflowTaskLease]) -> list[sb.WorkflowTaskCompletion | None]:
        """Activate runs for tasks started by the transaction that is calling.

        Called by the store in a database thread, inside that transaction (see
        ``Store.claim_and_complete_workflow_tasks`` and
        ``Store.complete_activity_and_workflow_task``); the activations themselves run on
        the worker's loop and workflow threads as usual. None for a task whose run is not
        ready for it (busy, history not contiguous with the cached run, updates waiting, a
        failure): it then takes the usual path. For a completion the run's lock stays held
        until :meth:`settle` runs.
        """
        loop = self.loop
        if loop is None:
            return [None] * len(leases)
        if self.converter.payload_codec is None:
            # Nothing to await: activate from this thread, straight on the workflow threads.
            return self._prepare_direct(leases)
        fut = asyncio.run_coroutine_threadsafe(self._prepare_all(leases), loop)
        try:
            return fut.result(timeout=(self.deadlock_timeout or 10.0) + 5.0)
        except BaseException:  # noqa: BLE001 - a late or failed activation leaves the usual path
            fut.cancel()
            return [None] * len(leases)

    def _inline_ready(self, lease: sb.WorkflowTaskLease, driver: RunDriver | None) -> bool:
        """Can this task be activated inside the claiming transaction (else: the usual path)?"""
        history = lease.history
        return bool(
            history
            and history[0].event_id <= (driver.last_event_id if driver is not None else 0) + 1
            and not lease.pending_updates
            and lease.started_event_id <= self.history_limit
        )

    def _prepare_direct(self, leases: list[sb.WorkflowTaskLease]) -> list[sb.WorkflowTaskCompletion | None]:
        """:meth:`run_inline_batch` without a payload codec, run in the calling database thread.

        The activations go to the workflow threads from here (all at once, then each is
        awaited with the deadlock limit) instead of by way of the loop: two thread hops
        fewer per task, on the path from a claim (or an activity's result) to its commit.
        """
        started: list[tuple[sb.WorkflowTaskLease, RunLock, RunDriver, Any] | None] = []
        for lease in leases:
            driver = self.cache.get(lease.run_id)
            if not self._inline_ready(lease, driver):
                started.append(None)
                continue
            lock = self._try_lock(lease.run_id)  # never wait: this thread holds the transaction
            if lock is None:
                started.append(None)
                continue
            if driver is None:
                driver = self._new_driver(lease.workflow_id, lease.run_id)  # the lease has the whole history
            events = lease.history
            assert events is not None
            fut = self.executor.submit(
                lambda d=driver, ls=lease, ev=events: d.process(ev, current_started_event_id=ls.started_event_id,
                                                                 pending_updates=[]))
            started.append((lease, lock, driver, fut))
        out: list[sb.WorkflowTaskCompletion | None] = []
        for item in started:
            out.append(None if item is None else self._finish_direct(*item))
        return out

    def _finish_direct(
        self, lease: sb.WorkflowTaskLease, lock: RunLock, driver: RunDriver, fut: Any,
    ) -> sb.WorkflowTaskCompletion | None:
        """Wait for one direct activation and keep its outcome for :meth:`settle` (see :meth:`_prepare_inline`)."""
        kept = False
        try:
            t0 = time.perf_counter()
            try:
                completion = self._activation_outcome(lease, lambda: fut.result(timeout=self.deadlock_timeout), t0)
            except BaseException:
                self.cache.evict(lease.run_id)  # a stale cache: the usual path replays
                raise
            stored = self._keep_inline(lease, driver, completion)
            kept = True
            return stored
        except Exception:
            return None
        finally:
            if not kept:
                loop = self.loop
                assert loop is not None
                loop.call_soon_threadsafe(lock.release)  # releases happen on the loop

    def _keep_inline(
        self, lease: sb.WorkflowTaskLease, driver: RunDriver, completion: jobs.Completion,
    ) -> sb.WorkflowTaskCompletion | None:
        """Keep an inline activation's outcome for :meth:`settle`; what to store in the transaction, or None.

        A failure is reported, and local activities run, once the transaction committed:
        never inside it (None leaves the started task to :meth:`settle`).
        """
        if completion.failure is not None or _has_local(completion):
            self._inline[lease.run_id] = _Inline(driver=driver, completion=completion, reserved=0,
                                                 started_event_id=lease.started_event_id)
            return None
        reserved = self._reserve_eager(lease, completion)
        self._inline[lease.run_id] = _Inline(driver=driver, completion=completion, reserved=reserved,
                                             started_event_id=lease.started_event_id)
        return sb.WorkflowTaskCompletion(commands=completion.commands, identity=self.identity,
                                         sticky=self.cache.size > 0, eager_activity_slots=reserved)

    async def _prepare_all(self, leases: list[sb.WorkflowTaskLease]) -> list[sb.WorkflowTaskCompletion | None]:
        return list(await asyncio.gather(*(self._prepare_inline(lease) for lease in leases)))

    async def _prepare_inline(self, lease: sb.WorkflowTaskLease) -> sb.WorkflowTaskCompletion | None:
        lock = self._lock(lease.run_id)
        driver = self.cache.get(lease.run_id)
        history = lease.history
        # Never wait for the run here: the calling database thread is blocked meanwhile.
        if lock.locked() or not self._inline_ready(lease, driver):
            return None
        assert history is not None
        if driver is None:
            driver = self._new_driver(lease.workflow_id, lease.run_id)  # the lease has the whole history
        await lock.acquire()
        kept = False
        try:
            try:
                completion = await self._run_activation(driver, lease, history, [])
            except BaseException:
                self.cache.evict(lease.run_id)  # a stale cache (or cancellation): the usual path replays
                raise
            if completion.failure is None and not _has_local(completion):
                # (a codec that refuses makes it a failure, reported after the commit too)
                completion = await self._encode_completion(lease, completion)
            stored = self._keep_inline(lease, driver, completion)
            kept = True
            return stored
        except Exception:
            return None
        finally:
            if not kept:
                lock.release()

    async def abandon(self, leases: list[sb.WorkflowTaskLease]) -> None:
        """Drop what inline activations kept for these tasks: the transaction that started them failed.

        Only an outcome kept for that very task is dropped (another transaction may hold
        one for the same run); the run's lock is released and its cache entry evicted, as
        :meth:`settle` does for a transaction that failed.
        """
        for lease in leases:
            inline = self._inline.get(lease.run_id)
            if inline is not None and inline.started_event_id == lease.started_event_id:
                await self.settle(lease.run_id, None, None)

    async def settle_claimed(self, claimed: tuple[sb.WorkflowTaskLease, sb.CompleteWorkflowTaskResult | None]) -> None:
        """After ``Store.claim_and_complete_workflow_tasks``: settle one claimed task (see :meth:`settle`)."""
        lease, result = claimed
        await self.settle(lease.run_id, lease, result)

    async def settle(
        self, run_id: str, lease: sb.WorkflowTaskLease | None, result: sb.CompleteWorkflowTaskResult | None,
    ) -> None:
        """Settle a task a store transaction started (and maybe completed) for this worker, then go on.

        ``lease`` is None when that transaction failed; ``result`` is None when the task
        was not completed in it. A task left over takes the usual path.
        """
        inline = self._inline.pop(run_id, None)
        if inline is not None:
            try:
                if lease is not None and inline.completion.failure is not None:
                    await self._fail_task(lease, inline.completion)
                    lease = None
                elif lease is not None and result is not None:
                    self._after_completion(lease, inline.driver, inline.completion, result, inline.reserved)
                    lease = result.next_task
                elif lease is not None and _has_local(inline.completion):
                    lease = await self._complete(lease, inline.driver, inline.completion)
                else:
                    # Not stored (refused, or the whole transaction failed): the instance ran
                    # ahead of the history, so the task (if it was started) replays.
                    self.on_eager_activities([], inline.reserved)
                    self.cache.evict(run_id)
            finally:
                self._lock(run_id).release()
                if lease is None:
                    self._forget_lock(run_id)
        if lease is not None:
            await self.handle(lease)

    def _absorb(self, driver: RunDriver, written: list[HistoryEvent]) -> bool:
        """Apply the events the completion itself wrote, so the next task needs only what is new.

        Matching them against the commands just sent runs no workflow code. Stops before a
        follow-up task's events (that task is activated on its own); skipped when other events
        came first (signals during the task: the next task reads them). False: drop the run.
        """
        if not written or written[0].event_id != driver.last_event_id + 1:
            return True
        own = []
        for ev in written:
            if ev.event_type is EventType.WORKFLOW_TASK_SCHEDULED:
                break
            own.append(ev)
        try:
            driver.process(own)
        except Exception:  # noqa: BLE001 - cannot happen for our own events; replay from history then
            logger.warning("could not apply a completion's own events to the cached run", exc_info=True)
            return False
        return True

    async def _activate(self, lease: sb.WorkflowTaskLease) -> tuple[jobs.Completion, RunDriver]:
        updates = [jobs.DoUpdate(update_id=u.update_id, name=u.name, input=u.args, run_validator=True,
                                 identity=u.identity) for u in lease.pending_updates]
        driver = self.cache.get(lease.run_id)
        for attempt in (1, 2):
            if driver is None:
                driver = self._new_driver(lease.workflow_id, lease.run_id)
            events = lease.history
            if not events or events[0].event_id > driver.last_event_id + 1:
                events = await self.db(self.store.read_history, lease.run_pk, driver.last_event_id)
            try:
                return await self._run_activation(driver, lease, events, updates), driver
            except (CacheInvalidError, HistoryGapError) as err:
                self.cache.evict(lease.run_id)
                if attempt == 1:
                    logger.debug("rebuilding run %s from history: %s", lease.run_id, err, extra=_log_extra(lease))
                    driver = None
                    continue
                return self._failure(err, "WorkflowWorkerUnhandledFailure"), driver
        raise AssertionError("unreachable")

    async def _run_activation(
        self, driver: RunDriver, lease: sb.WorkflowTaskLease, events: list[HistoryEvent],
        updates: list[jobs.DoUpdate],
    ) -> jobs.Completion:
        """Activate ``driver`` for ``lease`` (deadlock limit applied); errors become task failures.

        Only :class:`CacheInvalidError` and :class:`HistoryGapError` escape: the caller rebuilds the run.
        """
        codec = self.converter.payload_codec
        if codec is not None:
            # As temporalio: workflow code sees decoded payloads; history keeps them encoded.
            try:
                events = await decode_events(events, codec.decode)
                updates = [await self._decode_update(u) for u in updates]
            except Exception as err:  # noqa: BLE001 - a payload that does not decode fails the task, clearly
                return self._failure(_codec_error("decoding activation", lease, err),
                                     "WorkflowWorkerUnhandledFailure")
        t0 = time.perf_counter()
        try:
            completion = await self._in_thread(
                lambda: driver.process(events, current_started_event_id=lease.started_event_id,
                                       pending_updates=updates))
        except BaseException as exc:  # noqa: BLE001 - sorted out below, as for a direct activation
            return self._activation_outcome(lease, _raiser(exc), t0)
        return self._activation_outcome(lease, lambda: completion, t0)

    def _activation_outcome(
        self, lease: sb.WorkflowTaskLease, result: Callable[[], jobs.Completion | None], t0: float,
    ) -> jobs.Completion:
        """The completion ``result()`` gives, or the task failure its error means; checks applied.

        Only :class:`CacheInvalidError` and :class:`HistoryGapError` escape, the first also when the
        history given did not reach the task: the caller rebuilds the run.
        """
        try:
            completion = result()
        except (CacheInvalidError, HistoryGapError):
            raise
        except NondeterminismError as err:
            return self._failure(err, "NonDeterministicError")
        except TimeoutError:
            err = DeadlockError(f"[TMPRL1101] Potential deadlock detected: workflow didn't yield within "
                                f"{self.deadlock_timeout} second(s)")
            return self._failure(err, "WorkflowWorkerUnhandledFailure")
        except Exception as err:
            return self._failure(err, "WorkflowWorkerUnhandledFailure")
        metrics.workflow_task_activated(lease, time.perf_counter() - t0)
        if completion is None:
            # The run had no such task to activate: a cached run that is ahead of (or otherwise
            # disagrees with) the store. The caller rebuilds it from the stored history, and only
            # a run rebuilt that way fails the task with this error.
            raise CacheInvalidError(f"workflow task {lease.started_event_id} not found in the history")
        if completion.failure is None:
            completion = self._check_payload_sizes(completion)
        if completion.failure is None:
            completion = self._check_search_attributes(completion)
        return completion

    async def _encode_completion(self, lease: sb.WorkflowTaskLease, completion: jobs.Completion) -> jobs.Completion:
        """The completion about to be stored, its commands' payloads encoded by the codec (in place).

        Done last — after local activities ran and added their markers — so everything the
        task stores goes through the codec exactly once, as temporalio encodes a completion
        as a whole; the payload size limit then applies to the encoded payloads.
        """
        codec = self.converter.payload_codec
        if codec is None or completion.failure is not None:
            return completion
        try:
            await visit_commands(completion.commands, codec.encode)
        except Exception as err:  # noqa: BLE001 - nothing is stored; the task fails and is retried
            return self._failure(_codec_error("encoding completion", lease, err), "WorkflowWorkerUnhandledFailure")
        return self._check_payload_sizes(completion)

    async def _decode_update(self, update: jobs.DoUpdate) -> jobs.DoUpdate:
        """A copy of ``update`` with its arguments decoded by the codec."""
        args = {"payloads": list((update.input or {}).get("payloads") or [])}
        await visit_payloads(args, self.converter.payload_codec.decode, f"arguments of update {update.name!r}")
        return dataclasses.replace(update, input=args)

    async def _encoded_failure(self, failure: dict[str, Any] | None, what: str) -> dict[str, Any] | None:
        """``failure`` with its payloads encoded by the codec (a copy; the same dict without a codec)."""
        codec = self.converter.payload_codec
        if codec is None or failure is None:
            return failure
        encoded = copy.deepcopy(failure)
        try:
            await visit_payloads(encoded, codec.encode, what)
        except Exception as err:  # noqa: BLE001 - store a plain failure that says so rather than lose it
            logger.warning("Payload codec could not encode %s", what, exc_info=True)
            return {"message": f"Failed encoding {what}: {type(err).__name__}: {err}",
                    "source": failure.get("source", ""),
                    "application_failure_info": {"type": "PayloadCodecError", "non_retryable": False}}
        return encoded

    def _check_payload_sizes(self, completion: jobs.Completion) -> jobs.Completion:
        """A command carrying a payload past the limit fails the task (clear error in history)."""
        for cmd in completion.commands:
            for field in ("input", "result"):
                payloads = getattr(cmd, field, None)
                if payloads is None:
                    continue
                size = payloads_size(payloads)
                if size > self.payload_size_limit:
                    err = ApplicationError(
                        f"{type(cmd).__name__} {field} is {size} bytes, over the payload size limit of "
                        f"{self.payload_size_limit} bytes; store large data elsewhere and pass a reference",
                        type="PayloadSizeError")
                    return self._failure(err, "BadScheduleActivityAttributes" if field == "input"
                                         else "BadCompleteWorkflowExecutionAttributes")
        return completion

    def _check_search_attributes(self, completion: jobs.Completion) -> jobs.Completion:
        """Refuse unregistered or mistyped search attributes as Temporal's server does.

        An upsert (or a continue-as-new) naming an attribute that is not registered, or with a
        value of another type, fails the task with the cause BadSearchAttributes.
        """
        checks: list[tuple[Any, bool, str]] = []  # (attributes, an upsert?, the cause Temporal names)
        for c in completion.commands:
            if isinstance(c, cmds.UpsertWorkflowSearchAttributes):
                checks.append((c.search_attributes, True, "BadSearchAttributes"))
            elif isinstance(c, cmds.ContinueAsNewWorkflowExecution) and c.search_attributes:
                checks.append((c.search_attributes, False, "BadContinueAsNewAttributes"))
            elif isinstance(c, cmds.StartChildWorkflowExecution) and c.search_attributes:
                checks.append((c.search_attributes, False, "BadStartChildExecutionAttributes"))
        if not checks:
            return completion
        from temporalflow.conf import settings

        registry = search_attributes.parse_registry(settings.SEARCH_ATTRIBUTES, self.namespace)
        for attributes, is_upsert, cause in checks:
            try:
                search_attributes.validate(attributes, registry, allow_unset=is_upsert)
            except search_attributes.SearchAttributeError as err:
                return self._failure(ApplicationError(f"{cause}: {err}", type=cause, non_retryable=True), cause)
        return completion

    async def _in_thread(self, fn: Callable[[], Any]) -> Any:
        fut = asyncio.get_running_loop().run_in_executor(self.executor, fn)
        if self.deadlock_timeout is None:
            return await fut
        return await asyncio.wait_for(fut, self.deadlock_timeout)

    def _failure(self, err: BaseException, cause: str) -> jobs.Completion:
        failure = self.converter.failure_converter.to_failure(err, self.converter.payload_converter)
        return jobs.Completion(failure=failure, cause=cause, exception=err)

    def _log_task_failure(self, lease: sb.WorkflowTaskLease, completion: jobs.Completion) -> None:
        # temporalio's wording, so log-based alerts keep working after the move.
        failure = completion.failure or {}
        logger.warning(
            "Failed activation on workflow %s with ID %s and run ID %s: %s",
            lease.workflow_type, lease.workflow_id, lease.run_id, failure.get("message"),
            exc_info=completion.exception,
            extra={"temporal_workflow": {"workflow_type": lease.workflow_type, "workflow_id": lease.workflow_id,
                                         "run_id": lease.run_id, "namespace": lease.namespace,
                                         "task_queue": lease.task_queue, "attempt": lease.attempt},
                   "workflow_id": lease.workflow_id, "run_id": lease.run_id,
                   "failure_cause": completion.cause, "stack_trace": failure.get("stack_trace")},
        )

    async def answer_query(self, query: sb.QueryTask) -> None:
        """Answer a query from the cached instance, or by replaying the run's history."""
        async with self._lock(query.run_id):
            answer = await self._query(query)
        try:
            await self.db(self.store.answer_query, query.query_id, answer)
        except sb.StoreError:
            logger.debug("query %s could not be answered (gone)", query.query_id, extra=_log_extra(query))

    async def _query(self, query: sb.QueryTask) -> sb.QueryAnswer:
        driver = self.cache.get(query.run_id)
        try:
            if driver is None or driver.instance is None:
                driver = self._new_driver(query.workflow_id, query.run_id)
            # Catch up first: another worker may have completed tasks since this one
            # cached the run (its stickiness expired). Replays only completed tasks.
            events = await self.db(self.store.read_history, query.run_pk, driver.last_event_id)
            args = query.args
            codec = self.converter.payload_codec
            if codec is not None:
                events = await decode_events(events, codec.decode)
                args = {"payloads": list((args or {}).get("payloads") or [])}
                await visit_payloads(args, codec.decode, f"arguments of query {query.query_type!r}")
            await self._in_thread(lambda: driver.process(events))
            if driver.instance is None:
                raise RuntimeError("the run has no started workflow to query")
            result, failure = await self._in_thread(lambda: driver.instance.query(query.query_type, args))
            if codec is not None and result is not None:
                await visit_payloads(result, codec.encode, f"result of query {query.query_type!r}")
            return sb.QueryAnswer(result=result,
                                  failure=await self._encoded_failure(failure, "the query failure"))
        except Exception as err:
            self.cache.evict(query.run_id)
            failure = self.converter.failure_converter.to_failure(err, self.converter.payload_converter)
            return sb.QueryAnswer(failure=await self._encoded_failure(failure, "the query failure"))


def _has_local(completion: jobs.Completion) -> bool:
    """True if the completion asks for local activities (the worker runs them before completing)."""
    return any(isinstance(c, cmds.ScheduleLocalActivity) for c in completion.commands)


def _raiser(exc: BaseException) -> Callable[[], Any]:
    """A callable that raises ``exc`` (an error already caught, handed to code that calls for the result)."""
    def fn() -> Any:
        raise exc

    return fn
