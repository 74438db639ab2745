import time

from transplant.monitor import CpuTime


def _spin(cpu_seconds: float) -> None:
    """Work until this process has used `cpu_seconds` more (by another clock than CpuTime's),
    however busy the machine is."""
    end = time.process_time() + cpu_seconds
    while time.process_time() < end:
        pass


def test_cpu_time_counts_work_and_not_waiting():
    with CpuTime() as cpu:
        _spin(0.3)
    assert 0.29 < cpu.seconds < 0.35
    with CpuTime() as idle:
        time.sleep(0.3)  # wall time passes, no CPU time
    assert idle.seconds < 0.05

