"""The worker's database thread pool: the thread that went idle last takes the next call."""

from __future__ import annotations

import asyncio
import threading

import pytest

from temporalflow.worker._threads import LastIdleThreadPool


def test_one_call_at_a_time_stays_on_one_thread():
    pool = LastIdleThreadPool(4, "t")
    try:
        threads = {pool.submit(threading.get_ident).result(timeout=5) for _ in range(50)}
        assert len(threads) == 1  # ThreadPoolExecutor would have rotated through its threads
    finally:
        pool.shutdown(wait=False)


def test_concurrent_calls_use_up_to_max_threads_and_queue_the_rest():
    pool = LastIdleThreadPool(3, "t")
    release = threading.Event()
    started = threading.Semaphore(0)

    def held() -> int:
        started.release()
        assert release.wait(5)
        return threading.get_ident()

    try:
        futures = [pool.submit(held) for _ in range(5)]
        for _ in range(3):
            assert started.acquire(timeout=5)
        assert not started.acquire(timeout=0)  # the other two wait for a free thread
        assert sum(f.running() for f in futures) == 3
        release.set()
        idents = [f.result(timeout=5) for f in futures]
        assert len(set(idents)) == 3
    finally:
        pool.shutdown(wait=False)


def test_the_most_recently_idle_thread_is_taken():
    pool = LastIdleThreadPool(2, "t")
    gate_a, gate_b = threading.Event(), threading.Event()
    try:
        a = pool.submit(lambda: (gate_a.wait(5), threading.get_ident())[1])
        b = pool.submit(lambda: (gate_b.wait(5), threading.get_ident())[1])
        gate_a.set()
        first = a.result(timeout=5)
        gate_b.set()
        second = b.result(timeout=5)
        assert first != second
        assert pool.submit(threading.get_ident).result(timeout=5) == second  # idle last, taken first
    finally:
        pool.shutdown(wait=False)


def test_errors_reach_the_caller_and_the_thread_goes_on():
    pool = LastIdleThreadPool(1, "t")
    try:
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result(timeout=5)
        assert pool.submit(lambda x, y=0: x + y, 2, y=3).result(timeout=5) == 5
    finally:
        pool.shutdown(wait=False)


def test_initializer_runs_once_per_thread_and_its_failure_is_reported():
    seen: list[int] = []
    pool = LastIdleThreadPool(2, "t", initializer=lambda: seen.append(threading.get_ident()))
    try:
        for _ in range(5):
            pool.submit(lambda: None).result(timeout=5)
        assert len(seen) == 1
    finally:
        pool.shutdown(wait=False)

    calls = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("no connection yet")

    pool = LastIdleThreadPool(1, "t", initializer=flaky)
    try:
        with pytest.raises(RuntimeError, match="no connection yet"):
            pool.submit(lambda: None).result(timeout=5)
        assert pool.submit(lambda: 7).result(timeout=5) == 7  # a new thread, initialized again
    finally:
        pool.shutdown(wait=False)


def test_shutdown_refuses_new_calls_and_can_cancel_queued_ones():
    pool = LastIdleThreadPool(1, "t")
    release = threading.Event()
    running = pool.submit(lambda: release.wait(5))
    queued = pool.submit(lambda: "never")
    pool.shutdown(wait=False, cancel_futures=True)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(lambda: None)
    assert queued.cancelled()
    release.set()
    assert running.result(timeout=5) is True


def test_idle_threads_exit_on_shutdown():
    pool = LastIdleThreadPool(2, "tf-exit-test")
    pool.submit(lambda: None).result(timeout=5)
    mine = [t for t in threading.enumerate() if t.name.startswith("tf-exit-test")]
    assert len(mine) == 1
    pool.shutdown(wait=False)
    mine[0].join(5)
    assert not mine[0].is_alive()


def test_an_event_loop_runs_calls_in_it():
    pool = LastIdleThreadPool(2, "t")

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(loop.run_in_executor(pool, lambda i=i: i * i) for i in range(6))))

    try:
        assert asyncio.run(main()) == [0, 1, 4, 9, 16, 25]
    finally:
        pool.shutdown(wait=False)


def test_max_workers_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        LastIdleThreadPool(0)


def test_shutdown_with_wait_joins_the_busy_threads():
    pool = LastIdleThreadPool(2, "tf-join-test")
    release = threading.Event()
    busy = pool.submit(lambda: release.wait(5))
    threading.Timer(0.05, release.set).start()  # the call ends on its own while shutdown waits for it
    pool.shutdown(wait=True)
    assert busy.done() and busy.result() is True
    assert not [t for t in threading.enumerate() if t.name.startswith("tf-join-test")]


def test_run_on_gives_the_outcome_to_an_asyncio_future():
    pool = LastIdleThreadPool(2, "t")

    def boom() -> None:
        raise KeyError("nope")

    async def main() -> None:
        assert await pool.run_on(asyncio.get_running_loop(), lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(KeyError):
            await pool.run_on(asyncio.get_running_loop(), boom)
        idents = {await pool.run_on(asyncio.get_running_loop(), threading.get_ident) for _ in range(20)}
        assert len(idents) == 1 and threading.get_ident() not in idents

    try:
        asyncio.run(main())
    finally:
        pool.shutdown(wait=True)


def test_run_on_skips_a_call_cancelled_before_it_starts():
    pool = LastIdleThreadPool(1, "t")
    release = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        busy = pool.run_on(loop, release.wait, 5)
        queued = pool.run_on(loop, ran.append, "queued")
        queued.cancel()
        release.set()
        assert await busy is True
        assert await pool.run_on(loop, ran.append, "after") is None  # the one thread went on past the skipped call
        assert queued.cancelled()

    try:
        asyncio.run(main())
    finally:
        pool.shutdown(wait=True)
    assert ran == ["after"]


def test_run_on_after_its_loop_closed_does_not_break_the_thread():
    pool = LastIdleThreadPool(1, "t")
    release = threading.Event()
    loop = asyncio.new_event_loop()
    pool.run_on(loop, release.wait, 5)
    loop.close()
    release.set()  # the call ends with nobody to tell: its outcome is dropped
    try:
        assert pool.submit(lambda: "still serving").result(timeout=5) == "still serving"
    finally:
        pool.shutdown(wait=True)
