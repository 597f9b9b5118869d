"""``Worker``, with ``temporalio.worker.Worker``'s options and lifecycle.

It polls a task queue for workflow tasks, activities and queries, and runs the
timer/timeout loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalflow import metrics
from temporalflow.conf import settings
from temporalflow.store import base as sb
from temporalflow.worker._activity import ActivityRegistry, ActivityRunner
from temporalflow.worker._local_activity import LocalActivityRunner
from temporalflow.worker._run_state import RunCache
from temporalflow.worker._threads import LastIdleThreadPool
from temporalflow.worker._workflow import WorkflowRegistry, WorkflowTaskRunner

logger = logging.getLogger("temporalflow.worker")

# At most this many fired timers per round go on in the firing transaction (their activations
# hold its commit back); the rest take the queue.
_TIMER_HAND_BACK_TASKS = 16


class _Slots:
    """A counter of free execution slots with a wake-up when one frees.

    Slots are given back on the loop; they may be taken from a database thread too
    (eager activities of an inline activation), hence the mutex.
    """

    def __init__(self, size: int) -> None:
        self.free = size
        self.freed = asyncio.Event()
        self._mutex = threading.Lock()

    def take(self, n: int = 1) -> None:
        with self._mutex:
            self.free -= n

    def take_up_to(self, n: int) -> int:
        """Take as many of ``n`` slots as are free; how many were taken."""
        with self._mutex:
            taken = max(0, min(n, self.free))
            self.free -= taken
            return taken

    def give(self, n: int = 1) -> None:
        if n:
            with self._mutex:
                self.free += n
            self.freed.set()


class Worker:
    """Runs workflows and activities of one task queue until shut down.

    Use ``async with Worker(...):`` or ``await worker.run()`` (stop it with
    ``await worker.shutdown()``). Options as in temporalio; unknown temporalio
    options are accepted and ignored.
    """

    def __init__(
        self,
        client: Any,
        *,
        task_queue: str,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        activity_executor: concurrent.futures.Executor | None = None,
        workflow_task_executor: concurrent.futures.ThreadPoolExecutor | None = None,
        max_cached_workflows: int = 1000,
        max_concurrent_workflow_tasks: int | None = None,
        max_concurrent_activities: int | None = None,
        max_concurrent_workflow_task_polls: int | None = None,
        max_concurrent_activity_task_polls: int | None = None,
        identity: str | None = None,
        graceful_shutdown_timeout: timedelta = timedelta(),
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        debug_mode: bool = False,
        deadlock_timeout: timedelta | None = timedelta(seconds=2),
        max_heartbeat_throttle_interval: timedelta = timedelta(seconds=60),
        default_heartbeat_throttle_interval: timedelta = timedelta(seconds=30),
        poll_batch_size: int = 20,
        run_timers: bool = True,
        db_threads: int = 4,
        continue_as_new_suggested_at: int | None = None,
        history_count_limit: int | None = None,
        **_ignored: Any,
    ) -> None:
        if not workflows and not activities:
            raise ValueError("Worker must have at least one workflow or activity")
        if not task_queue:
            raise ValueError("a task queue is required")
        self._client = client
        self._store: sb.Store = client.store
        self._namespace = client.namespace
        self._task_queue = task_queue
        self._identity = identity or f"{os.getpid()}@{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
        self._converter = client.data_converter
        self._workflows = WorkflowRegistry(workflows) if workflows else None
        self._activities = ActivityRegistry(activities) if activities else None
        self._graceful = graceful_shutdown_timeout.total_seconds()
        self._max_wft = max_concurrent_workflow_tasks or 100
        self._max_act = max_concurrent_activities or 100
        self._batch = max(1, poll_batch_size)
        self._run_timers = run_timers
        if continue_as_new_suggested_at is None:
            continue_as_new_suggested_at = int(settings.HISTORY_COUNT_WARN)
        self._payload_size_limit = int(settings.PAYLOAD_SIZE_LIMIT)
        self._history_limit = int(history_count_limit or settings.HISTORY_COUNT_LIMIT)
        self._suggest_continue_as_new_at = continue_as_new_suggested_at
        self._own_activity_executor = False
        if activity_executor is None and self._activities is not None and self._activities.has_sync:
            activity_executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._max_act, thread_name_prefix="temporalflow-activity")
            self._own_activity_executor = True
        self._activity_executor = activity_executor
        self._local_shutdown = threading.Event()  # activity.is_worker_shutdown() in local activities
        self._wf_executor = workflow_task_executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="temporalflow-workflow")
        self._own_wf_executor = workflow_task_executor is None
        self._db_threads = max(1, db_threads)
        # One warm session for one-at-a-time work, up to db_threads under load (see _threads).
        self._db_executor = LastIdleThreadPool(
            max_workers=self._db_threads, thread_name_prefix="temporalflow-db",
            initializer=self._store.mark_worker_thread)
        self._cache = RunCache(max_cached_workflows)
        self._deadlock = None if debug_mode or deadlock_timeout is None else deadlock_timeout.total_seconds()
        self._failure_types = tuple(workflow_failure_exception_types)
        self._throttle_max = max_heartbeat_throttle_interval.total_seconds()
        self._throttle_default = default_heartbeat_throttle_interval.total_seconds()
        self._started = False
        self._stopping = False
        # asyncio.Event binds to a loop only when first awaited, so these can be made here.
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._run_task: asyncio.Task[Any] | None = None

    # --- properties ---------------------------------------------------------

    @property
    def task_queue(self) -> str:
        """The task queue this worker polls."""
        return self._task_queue

    @property
    def identity(self) -> str:
        """This worker's identity (recorded in history events it writes)."""
        return self._identity

    @property
    def client(self) -> Any:
        """The client this worker was built with."""
        return self._client

    @property
    def is_running(self) -> bool:
        """True between start and shutdown."""
        return self._started and not self._stopping

    @property
    def is_shutdown(self) -> bool:
        """True once shutdown finished."""
        return self._stopped.is_set()

    # --- lifecycle -----------------------------------------------------------

    async def run(self) -> None:
        """Poll and run tasks until :meth:`shutdown` is called."""
        if self._started:
            raise RuntimeError("Already started")
        self._started = True
        self._wft_slots = _Slots(self._max_wft)
        self._act_slots = _Slots(self._max_act)
        if self._workflows is not None:
            self._wf_runner = WorkflowTaskRunner(
                store=self._store, namespace=self._namespace, task_queue=self._task_queue,
                identity=self._identity, registry=self._workflows, data_converter=self._converter,
                cache=self._cache, db=self._db, executor=self._wf_executor, deadlock_timeout=self._deadlock,
                failure_exception_types=self._failure_types, eager_activity_slots=self._reserve_eager,
                on_eager_activities=self._eager_started,
                continue_as_new_suggested_at=self._suggest_continue_as_new_at,
                history_count_limit=self._history_limit,
                payload_size_limit=self._payload_size_limit,
                local_activities=LocalActivityRunner(
                    registry=self._activities or ActivityRegistry([]), data_converter=self._converter,
                    executor=self._activity_executor, payload_size_limit=self._payload_size_limit,
                    worker_shutdown=self._local_shutdown),
            )
            self._wf_runner.loop = asyncio.get_running_loop()
            # Claimed tasks are activated and completed in the claiming transaction (one commit
            # for the batch); any the worker cannot do there come back to run the usual way.
            self._loops.append(asyncio.create_task(self._poll_loop(
                f"wft:{self._namespace}:{self._task_queue}", self._wft_slots, self._claim_workflow_tasks,
                self._wf_runner.settle_claimed), name="temporalflow-wft-poller"))
            self._loops.append(asyncio.create_task(self._poll_loop(
                f"query:{self._namespace}:{self._task_queue}", None, self._store.claim_queries,
                self._wf_runner.answer_query), name="temporalflow-query-poller"))
        if self._activities is not None:
            self._act_runner = ActivityRunner(
                store=self._store, identity=self._identity, registry=self._activities,
                data_converter=self._converter, db=self._db, executor=self._activity_executor,
                heartbeat_throttle_max=self._throttle_max, default_heartbeat_throttle=self._throttle_default,
                reserve_workflow_slot=self._reserve_workflow_slot, on_workflow_task=self._direct_workflow_task,
                run_workflow_task=self._wf_runner.run_inline if self._workflows is not None else None,
                payload_size_limit=self._payload_size_limit,
            )
            self._loops.append(asyncio.create_task(self._poll_loop(
                f"act:{self._namespace}:{self._task_queue}", self._act_slots, self._store.claim_activity_tasks,
                self._run_activity), name="temporalflow-activity-poller"))
        if self._run_timers:
            self._loops.append(asyncio.create_task(self._timer_loop(), name="temporalflow-timers"))
            self._loops.append(asyncio.create_task(self._frozen_session_loop(), name="temporalflow-frozen-sessions"))
        self._loops.append(asyncio.create_task(self._poller_registry_loop(), name="temporalflow-pollers"))
        metrics.register_worker(id(self), self._namespace, self._task_queue, self._metrics_snapshot)
        logger.info("Worker %s polling task queue %r (namespace %r)", self._identity, self._task_queue,
                    self._namespace)
        try:
            await self._stop_requested.wait()
        finally:
            await self._finish()

    async def shutdown(self) -> None:
        """Stop polling and let in-flight work finish, then cancel what remains.

        Activities get ``graceful_shutdown_timeout``; returns once everything is reported.
        """
        if not self._started:
            return
        self._stopping = True
        self._stop_requested.set()
        await self._stopped.wait()

    async def __aenter__(self) -> Worker:
        self._run_task = asyncio.create_task(self.run(), name="temporalflow-worker")
        await asyncio.sleep(0)  # let run() start its pollers
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.shutdown()
        if self._run_task is not None:
            await self._run_task

    def _metrics_snapshot(self) -> tuple[int, int, int, int, int, int, int]:
        """Sticky cache and slot figures for ``temporalflow.metrics`` (read when metrics are scraped)."""
        wf = self._workflows is not None
        act = self._activities is not None
        return (self._cache.hits, self._cache.misses, len(self._cache),
                self._max_wft - self._wft_slots.free if wf else 0, self._max_wft if wf else 0,
                self._max_act - self._act_slots.free if act else 0, self._max_act if act else 0)

    async def _finish(self) -> None:
        metrics.unregister_worker(id(self))
        self._stopping = True
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._local_shutdown.set()
        if self._activities is not None:
            self._act_runner.begin_shutdown()
            if not await self._act_runner.wait_all(self._graceful):
                self._act_runner.cancel_all_for_shutdown()
                await self._act_runner.wait_all(None)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._workflows is not None and self._cache.size > 0:
            try:
                await self._db(self._store.release_sticky, self._identity)
            except Exception:
                logger.warning("could not release sticky runs; they move after the sticky timeout", exc_info=True)
        await self._close_db_threads()
        if self._own_wf_executor:
            self._wf_executor.shutdown(wait=False)
        if self._own_activity_executor and self._activity_executor is not None:
            self._activity_executor.shutdown(wait=False)
        self._stopped.set()
        logger.info("Worker %s stopped", self._identity)

    async def _close_db_threads(self) -> None:
        # Every DB thread holds its own connection: run one close per thread, held at a
        # barrier so no thread can take two of them.
        n = self._db_threads
        barrier = threading.Barrier(n, timeout=10)

        def close() -> None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
            self._store.close_thread_connections()

        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._db_executor, close) for _ in range(n)),
                             return_exceptions=True)
        self._db_executor.shutdown(wait=False)

    # --- loops -------------------------------------------------------------------

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self._db_executor.run_on(asyncio.get_running_loop(), self._in_db_thread, fn, args)

    def _in_db_thread(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        try:
            return fn(*args)
        except sb.StoreError:
            raise
        except Exception:
            # A database restart or a killed session leaves this thread's connection
            # broken; drop it so the next call reconnects instead of failing forever.
            self._store.recover_connection()
            raise

    def _spawn(self, coro: Awaitable[Any], on_done: Callable[[], None] | None = None) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if on_done is not None:
                on_done()
            if not t.cancelled() and t.exception() is not None:
                logger.error("Worker task failed", exc_info=t.exception())

        task.add_done_callback(done)

    async def _poll_loop(
        self, channel: str, slots: _Slots | None, claim: Callable[..., list[Any]],
        handle: Callable[[Any], Awaitable[None]],
    ) -> None:
        sub = self._store.subscribe(channel)
        backoff = 0.1
        try:
            while not self._stopping:
                free = self._batch if slots is None else min(slots.free, self._batch)
                if free <= 0:
                    assert slots is not None
                    slots.freed.clear()
                    await slots.freed.wait()
                    continue
                try:
                    items = await self._db(claim, self._namespace, self._task_queue, self._identity, free)
                    backoff = 0.1
                except Exception:
                    logger.warning("Polling %s failed; retrying in %.1fs", channel, backoff, exc_info=True)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                for item in items:
                    if slots is not None:
                        slots.take()
                    self._spawn(handle(item), (lambda s=slots: s.give()) if slots is not None else None)
                if len(items) < free:
                    await sub.wait(1.0)
        finally:
            sub.close()

    async def _run_activity(self, lease: sb.ActivityTaskLease) -> None:
        await self._act_runner.run(lease)

    def _reserve_workflow_slot(self) -> bool:
        if self._workflows is None or self._stopping or self._cache.size <= 0 or self._wft_slots.free <= 0:
            return False
        self._wft_slots.take()
        return True

    def _direct_workflow_task(
        self, run_id: str, lease: sb.WorkflowTaskLease | None, result: sb.CompleteWorkflowTaskResult | None
    ) -> None:
        """Settle (and go on with) a task an activity completion handed back, in the slot reserved for it."""
        self._spawn(self._wf_runner.settle(run_id, lease, result), self._wft_slots.give)

    def _reserve_eager(self, wanted: int) -> int:
        if self._activities is None or self._stopping:
            return 0
        return self._act_slots.take_up_to(wanted)

    def _eager_started(self, leases: list[sb.ActivityTaskLease], reserved: int) -> None:
        self._act_slots.give(reserved - len(leases))
        for lease in leases:
            self._spawn(self._run_activity(lease), self._act_slots.give)

    async def _timer_loop(self) -> None:
        sub = self._store.subscribe("timers")
        backoff = 0.1
        try:
            while not self._stopping:
                hand_back = self._timer_hand_back()
                try:
                    try:
                        handled = await self._db(self._store.fire_due_timers, 200, hand_back)
                    finally:
                        self._settle_hand_back(hand_back)
                    if handled >= 200:
                        continue
                    due = await self._db(self._store.next_due_time)
                    backoff = 0.1
                except Exception:
                    logger.warning("Timer loop failed; retrying in %.1fs", backoff, exc_info=True)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                now = getattr(self._store, "now", time.time)()
                delay = 1.0 if due is None else min(max(due - now, 0.0), 1.0)
                if delay > 0:
                    await sub.wait(delay)
        finally:
            sub.close()

    def _claim_workflow_tasks(
        self, namespace: str, task_queue: str, identity: str, max_tasks: int,
    ) -> list[tuple[sb.WorkflowTaskLease, sb.CompleteWorkflowTaskResult | None]]:
        """Claim tasks and complete them in the claiming transaction (in a database thread).

        If that transaction fails after the activations, what they kept is dropped at once
        (see ``WorkflowTaskRunner.abandon``) rather than when the run's next task comes.
        """
        runner = self._wf_runner
        started: list[sb.WorkflowTaskLease] = []

        def run_tasks(leases: list[sb.WorkflowTaskLease]) -> list[sb.WorkflowTaskCompletion | None]:
            started.extend(leases)
            return runner.run_inline_batch(leases)

        try:
            return self._store.claim_and_complete_workflow_tasks(
                namespace, task_queue, identity, max_tasks, history_after=self._cache.known_event_id,
                run_workflow_tasks=run_tasks)
        except BaseException:
            loop = runner.loop
            if started and loop is not None:
                loop.call_soon_threadsafe(lambda: self._spawn(runner.abandon(started)))
            raise

    def _timer_hand_back(self) -> sb.WorkflowTaskHandBack | None:
        """Slots for the workflow tasks a timer firing may start for this worker, or None.

        A fired timer's run that this worker caches then goes on in the firing transaction,
        as a completed activity's does (see ``Store.fire_due_timers``).
        """
        if self._workflows is None or self._stopping or self._cache.size <= 0:
            return None
        reserved = self._wft_slots.take_up_to(_TIMER_HAND_BACK_TASKS)
        if reserved <= 0:
            return None
        return sb.WorkflowTaskHandBack(identity=self._identity, max_tasks=reserved,
                                       run_workflow_tasks=self._wf_runner.run_inline_batch)

    def _settle_hand_back(self, hand_back: sb.WorkflowTaskHandBack | None) -> None:
        """After a timer firing: settle the tasks it started for this worker and give back the other slots.

        ``claimed`` is set only when the firing committed; after a failure, what the inline
        activations kept for the tasks it had started is dropped.
        """
        if hand_back is None:
            return
        claimed = hand_back.claimed
        self._wft_slots.give(hand_back.max_tasks - len(claimed))
        for item in claimed:
            self._spawn(self._wf_runner.settle_claimed(item), self._wft_slots.give)
        if not claimed and hand_back.started:
            self._spawn(self._wf_runner.abandon(hand_back.started))

    async def _frozen_session_loop(self) -> None:
        """Free the row locks of workers frozen inside a transaction (see ``end_frozen_worker_sessions``).

        It runs on a thread and connection of its own: the sweeps and reports that such a
        lock holds up may be waiting on every DB thread.
        """
        limit = float(settings.WORKER_IDLE_IN_TRANSACTION_TIMEOUT)
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="temporalflow-frozen-sessions",
            initializer=self._store.mark_worker_thread)
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                try:
                    ended = await loop.run_in_executor(
                        executor, self._in_db_thread, self._store.end_frozen_worker_sessions, (limit,))
                except Exception:
                    logger.warning("could not look for frozen worker sessions", exc_info=True)
                    ended = []
                if ended is None:
                    return  # this database has none
                for pid in ended:
                    logger.warning("Ended database session %s: a worker left it inside a transaction, not "
                                   "responding, for over %.0fs (frozen or paused); its locks are free", pid, limit)
                await asyncio.sleep(limit / 2)
        finally:
            # Closed before the worker counts as stopped, so no session outlives it.
            await asyncio.wrap_future(executor.submit(self._store.close_thread_connections))
            executor.shutdown(wait=False)

    async def _poller_registry_loop(self) -> None:
        while not self._stopping:
            try:
                await self._db(self._store.record_poller, self._namespace, self._task_queue, self._identity)
            except Exception:
                logger.debug("could not record poller", exc_info=True)
            await asyncio.sleep(10)
