"""Runs in separate processes sharing one cache: an entry is computed once, a running step's
work folder is never touched, and a killed run's lock is free for the next one (Linux: flock)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from lensbench.cache import Cache
from lensbench.cache.admin import prune
from lensbench.cache.lock import EXCLUSIVE, SHARED, EntryLock

KEY = "cd" * 32
REPO = Path(__file__).resolve().parents[2]

CLAIMER = textwrap.dedent(f"""
    import os, sys, time
    from pathlib import Path
    from lensbench.cache import Cache
    root, ready, computed, mode = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    (ready / str(os.getpid())).touch()
    while len(list(ready.iterdir())) < int(sys.argv[5]):  # start together
        time.sleep(0.01)
    cache = Cache(root)
    claim = cache.claim("simulate", "{KEY}", notify=lambda m: print("NOTE", m, flush=True))
    if claim.path is None:
        work = claim.begin()
        with open(computed, "a") as log:
            log.write(f"{{os.getpid()}}\\n")
        (work / "shard_0.npy").write_text("half")
        if mode == "die":
            os.kill(os.getpid(), 9)
        print("HOLDING", flush=True)
        time.sleep(float(sys.argv[6]))
        (work / "data.txt").write_text(str(os.getpid()))
        claim.commit({{"step": "simulate:test"}})
    print("USED", (cache.path("simulate", "{KEY}") / "data.txt").read_text(), flush=True)
""")


def start(tmp_path, n, mode="normal", hold=1.0):
    ready, computed = tmp_path / "ready", tmp_path / "computed.txt"
    ready.mkdir(exist_ok=True)
    return [subprocess.Popen([sys.executable, "-c", CLAIMER, str(tmp_path / "cache"), str(ready), str(computed),
                              mode, str(n), str(hold)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(n)]


def test_two_processes_compute_an_entry_once_and_both_use_it(tmp_path):
    outputs = []
    for proc in start(tmp_path, 2):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out)
    computed = (tmp_path / "computed.txt").read_text().split()
    assert len(computed) == 1
    assert all(f"USED {computed[0]}" in out for out in outputs)
    assert sum("waiting for another lensbench run" in out for out in outputs) == 1


def test_a_killed_run_leaves_its_lock_free_and_its_work_to_resume(tmp_path):
    (proc,) = start(tmp_path, 1, mode="die")
    proc.communicate(timeout=120)
    assert proc.returncode == -9
    cache, told = Cache(tmp_path / "cache"), []
    claim = cache.claim("simulate", KEY, notify=told.append)
    assert claim.path is None and not told
    assert (claim.begin() / "shard_0.npy").read_text() == "half"
    cache.release()


def test_prune_never_touches_a_running_steps_work_folder(tmp_path):
    (proc,) = start(tmp_path, 1, hold=30)
    assert proc.stdout.readline().strip() == "HOLDING"
    try:
        cache = Cache(tmp_path / "cache")
        result = prune(cache, older_than=0)
        assert [e.name for e in result.busy] == [f"simulate/{KEY}.partial"] and not result.removed
        assert (cache.partial("simulate", KEY) / "shard_0.npy").is_file()
    finally:
        proc.kill()
        proc.communicate()


def test_a_shared_hold_keeps_others_shared_but_not_exclusive(tmp_path):
    path = tmp_path / "x.lock"
    reader, other = EntryLock(path), EntryLock(path)  # two open files: as two processes
    assert reader.acquire(SHARED) and other.acquire(SHARED, wait=False)
    other.release()
    assert not other.acquire(EXCLUSIVE, wait=False)
    reader.release()
    assert other.acquire(EXCLUSIVE, wait=False)
    other.release()


def test_a_lock_file_removed_while_waiting_is_not_trusted(tmp_path):
    """prune unlinks the lock file of an entry it removes, while holding it; a process that was
    waiting on the old file must lock the new one, or two processes would both hold 'the' lock."""
    path = tmp_path / "x.lock"
    holder, waiter = EntryLock(path), EntryLock(path)
    holder.acquire(EXCLUSIVE)
    waiting = threading.Thread(target=waiter.acquire, args=(EXCLUSIVE,))
    waiting.start()
    time.sleep(0.3)  # the waiter has opened the old file and blocks on it
    path.unlink()
    holder.release()
    waiting.join(timeout=10)
    assert waiter.mode == EXCLUSIVE and path.is_file()
    assert not EntryLock(path).acquire(SHARED, wait=False)  # the file now at the path is the one held
    waiter.release()
