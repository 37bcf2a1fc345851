"""The shutdown budget: steps finish or are cut short at their share, and the watchdog backs it up."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from bot.shutdown import ShutdownBudget, Watchdog


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_allowance_is_the_smallest_of_cap_remaining_and_what_later_steps_keep() -> None:
    clock = FakeClock()
    budget = ShutdownBudget(7.0, clock=clock)
    assert budget.allowance() == 7.0
    assert budget.allowance(cap=1.5) == 1.5
    assert budget.allowance(keep=2.0) == 5.0
    clock.now += 6.0
    assert budget.remaining() == pytest.approx(1.0)
    assert budget.allowance(cap=1.5) == pytest.approx(1.0)
    assert budget.allowance(keep=2.0) == 0.0
    clock.now += 5.0
    assert budget.remaining() == 0.0


async def test_a_step_that_finishes_reports_success(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.shutdown")
    budget = ShutdownBudget(5.0)
    assert await budget.step("flush", asyncio.sleep(0), cap=1.0)
    assert budget.cut_short == []
    assert "shutdown: flush took" in caplog.text


async def test_a_step_that_overruns_its_cap_is_cancelled_and_the_shutdown_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    budget = ShutdownBudget(5.0)
    assert not await budget.step("close the gateway", stuck(), cap=0.05)
    assert cancelled.is_set()
    assert budget.cut_short == ["close the gateway"]
    assert "close the gateway cut short" in caplog.text
    assert await budget.step("flush the writer", asyncio.sleep(0))  # the next step still runs


async def test_a_failing_step_is_logged_and_does_not_stop_the_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    budget = ShutdownBudget(5.0)
    assert not await budget.step("close clients", broken())
    assert "close clients failed" in caplog.text
    assert budget.cut_short == []


async def test_a_spent_budget_gives_a_step_no_time() -> None:
    clock = FakeClock()
    budget = ShutdownBudget(1.0, clock=clock)
    clock.now += 2.0
    assert not await budget.step("too late", asyncio.Event().wait())
    assert budget.cut_short == ["too late"]


def test_the_watchdog_exits_with_status_1_when_the_process_outlives_it(caplog: pytest.LogCaptureFixture) -> None:
    exited: list[int] = []
    fired = threading.Event()

    def fake_exit(status: int) -> None:
        exited.append(status)
        fired.set()

    watchdog = Watchdog(0.01, exit=fake_exit)
    watchdog.arm()
    watchdog.arm()  # arming twice keeps one timer
    assert fired.wait(10)
    assert exited == [1]
    assert "shutdown took longer than" in caplog.text
