"""What a block of work costs: peak memory (resident set size sampled in a thread, plus CUDA
peak) and CPU time.

The process-wide `ru_maxrss` is useless inside a multirun (it never goes down between jobs),
so RSS is sampled while the block runs. CPU time, unlike wall time, does not count the time
the process waited: paused (SIGSTOP) or sharing the machine.
"""

from __future__ import annotations

import resource
import threading

import psutil
import torch


class PeakMemory:
    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak_rss = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self.peak_rss = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss)

    def as_metrics(self) -> dict[str, float]:
        out = {"peak_rss_mb": self.peak_rss / 2**20}
        if torch.cuda.is_available():
            out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return out


def _cpu_seconds() -> float:
    """User + system time of this process's threads and of its children that have ended."""
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                       resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class CpuTime:
    """CPU seconds a block used, over all its threads (so up to wall time x cores)."""

    seconds = 0.0

    def __enter__(self) -> CpuTime:
        self._start = _cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = _cpu_seconds() - self._start
