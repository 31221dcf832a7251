"""The run's download pool: results in order, every transfer ended before a failure is reported."""

import threading

import pytest

from bandersnatch.downloads import MAX_DOWNLOAD_WORKERS, Transfers


def test_results_come_in_the_tasks_order_whatever_order_they_finish_in():
    gates = [threading.Event() for _ in range(3)]

    def task(index):
        def run():
            if index < 2:
                assert gates[index + 1].wait(5)  # 0 waits for 1, 1 for 2: they finish 2, 1, 0
            gates[index].set()
            return index

        return run

    with Transfers(3) as transfers:
        assert transfers.run_all([task(i) for i in range(3)]) == [0, 1, 2]


def test_a_failure_is_raised_only_after_every_transfer_ended():
    finished = []
    release = threading.Event()

    def failing():
        raise ValueError("bad file")

    def slow():
        assert release.wait(5)
        finished.append("slow")
        return "slow"

    def fail_later():
        release.set()
        raise KeyError("second failure")

    with Transfers(2) as transfers, pytest.raises(ValueError, match="bad file"):  # the first in task order
        transfers.run_all([failing, slow, fail_later])
    assert finished == ["slow"]


def test_no_more_than_workers_run_at_once():
    running, peak, lock = [0], [0], threading.Lock()
    barrier = threading.Barrier(2, timeout=5)

    def task():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        barrier.wait()  # two at a time meet here; a third never joins them
        with lock:
            running[0] -= 1

    with Transfers(2) as transfers:
        transfers.run_all([task] * 6)
    assert peak[0] == 2


@pytest.mark.parametrize("workers", [0, MAX_DOWNLOAD_WORKERS + 1])
def test_refuses_a_pool_outside_the_documented_range(workers):
    with pytest.raises(ValueError, match="download workers must be 1..50"):
        Transfers(workers)


def test_no_tasks_no_results():
    with Transfers(1) as transfers:
        assert transfers.run_all([]) == []
