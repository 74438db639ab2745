"""A grid point is run by one process at a time, across hosts sharing a filesystem."""

import json
import multiprocessing
import os
import time

from transplant import claim as claims


def _try(run_dir, results):
    held = claims.claim(run_dir)
    results.put(held is not None)
    if held:
        time.sleep(1.0)  # hold it while the others try
        held.release()


def test_of_processes_racing_for_a_point_exactly_one_wins(tmp_path):
    results = multiprocessing.get_context("fork").Queue()
    procs = [multiprocessing.get_context("fork").Process(target=_try, args=(tmp_path, results))
             for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert sorted(results.get() for _ in procs) == [False] * 5 + [True]
    assert not (tmp_path / "claim.json").exists()  # released


def test_a_dead_processes_claim_on_this_host_is_taken_over(tmp_path):
    child = os.fork()
    if child == 0:
        claims.claim(tmp_path)
        os._exit(0)  # dies holding it
    os.waitpid(child, 0)
    assert claims.holder(tmp_path / "claim.json")["pid"] == child
    held = claims.claim(tmp_path)
    assert held is not None and claims.holder(tmp_path / "claim.json")["pid"] == os.getpid()
    held.release()


def test_another_hosts_claim_is_respected_until_its_heartbeat_stops(tmp_path):
    path = tmp_path / "claim.json"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "since": 0}))
    assert claims.claim(tmp_path) is None  # fresh: someone on another host runs it
    old = time.time() - claims.STALE_S - 1
    os.utime(path, (old, old))  # no heartbeat for longer than STALE_S: that host is gone
    held = claims.claim(tmp_path)
    assert held is not None and claims.holder(path)["host"] != "elsewhere"
    held.release()


def test_the_heartbeat_keeps_a_long_run_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "HEARTBEAT_S", 0.05)
    held = claims.claim(tmp_path)
    old = time.time() - 1000
    os.utime(tmp_path / "claim.json", (old, old))
    time.sleep(0.3)
    assert not claims.is_stale(tmp_path / "claim.json")
    held.release()
