#!/usr/bin/env python3
"""Peer benchmark: Python Pebble, measured the same way as swift-pebble's
`pebble-bench` so both can be compared in one run (see ../compare.sh).

Prints ONE JSON object per line on stdout, e.g.

  {"metric": "M2-process", "impl": "pebble", "workers": 2, "value": 123.4,
   "unit": "us", "p10": ..., "p90": ..., "n": 2000, "min": ..., "max": ...}

(extra keys allowed). Progress and diagnostics go to stderr.  A metric that
raises prints a line with an "error" key instead, and the others still run.

Usage: pebble_bench.py [--quick] [--metrics M2-process,M5a,...]
  --metrics matches on prefix: "M2" selects M2-process and M2-thread,
  "M1" selects M1 and M1-rss, "M5" selects M5a and M5b.

Metrics (2 workers unless stated; trivial task = inc(x) -> x + 1; process
pools use the "fork" multiprocessing context, Pebble's default on Linux):
  M1        ProcessPool() created -> first trivial result, ms (new pool each
            sample; close/join not timed).  Also an impl row "pebble-spawn"
            with the "spawn" context.
  M1-rss    VmRSS of one idle worker, kB (from /proc/<pid>/status).
  M2-*      one task at a time round trip (schedule + result()), us.
  M3        20,000 tasks scheduled at once on a ProcessPool, all awaited, tasks/s.
  M9        100,000 tasks the same way on a ThreadPool, tasks/s.
  M4        ProcessPool.map over 200,000 ints, chunksize 1,000, items/s.
  M5a/M5b   1 worker, sleep(10) with timeout=0.1: lateness of TimeoutError,
            then TimeoutError -> next trivial result, ms.
  M6a/M6b   1 worker, os._exit(1): schedule -> ProcessExpired, then
            ProcessExpired -> next trivial result, ms.
  M7        1 worker, cancel() of a running sleep(10) -> next trivial result, ms.
  M8        one task echoing a 10 MB bytes argument: MB/s for 20 MB moved.
  X1        @concurrent.process call -> result, ms.
  X2        @concurrent.thread call -> result, us.
  M3-w4     M3 on a 4-worker pool; M4-w4 M4 on a 4-worker pool (scaling).

Standard-library peers, measured the same way in the same run (impl rows):
  mp.Pool     multiprocessing.Pool (fork): M1, M1-rss, M2-process, M3, M4, M8,
              M3-w4, M4-w4 (apply_async(...).get(), map(chunksize=1000)).
  cf.process  concurrent.futures.ProcessPoolExecutor (fork): the same rows
              (submit(...).result(), map(chunksize=1000)).
  cf.thread   concurrent.futures.ThreadPoolExecutor: M2-thread, M9.
  None of them has per-task timeouts, cancelling a running task, or a
  one-shot decorator, so M5-M7 and X1/X2 have no peer rows.
"""

import argparse
import gc
import json
import multiprocessing
import os
import random
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeoutError

import pebble
from pebble import ProcessExpired, ProcessPool, ThreadPool, concurrent

try:
    from importlib.metadata import version as _dist_version

    PEBBLE_VERSION = _dist_version("pebble")
except Exception:  # pragma: no cover
    PEBBLE_VERSION = getattr(pebble, "__version__", "unknown")

IMPL = "pebble"
WORKERS = 2
# Upper bound for any single wait, so a hang becomes an "error" row instead of
# blocking the whole run.
WAIT = 120.0

MB = 1_000_000  # M8 uses decimal megabytes: 10 MB = 10,000,000 bytes.

now = time.perf_counter


# --------------------------------------------------------------------------
# Task functions (module level so they can be pickled / found after spawn)


def inc(x):
    return x + 1


def getpid():
    return os.getpid()


def sleep_task(seconds):
    time.sleep(seconds)
    return seconds


def exit_task():
    os._exit(1)


def echo(data):
    return data


@concurrent.process
def inc_process(x):
    return x + 1


@concurrent.thread
def inc_thread(x):
    return x + 1


# --------------------------------------------------------------------------
# Helpers


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def quantile(sorted_values, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    n = len(sorted_values)
    if n == 0:
        return None
    if n == 1:
        return sorted_values[0]
    pos = (n - 1) * q
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summary(metric, unit, samples, impl=IMPL, workers=WORKERS, **extra):
    s = sorted(samples)
    row = {
        "metric": metric,
        "impl": impl,
        "workers": workers,
        "value": quantile(s, 0.5),
        "unit": unit,
        "p10": quantile(s, 0.10),
        "p90": quantile(s, 0.90),
        "n": len(s),
        "min": s[0] if s else None,
        "max": s[-1] if s else None,
    }
    row.update(extra)
    return row


def error_row(metric, impl, workers, exc):
    return {
        "metric": metric,
        "impl": impl,
        "workers": workers,
        "value": None,
        "unit": None,
        "error": "%s: %s" % (type(exc).__name__, exc),
    }


def read_proc_kb(pid, fields, path="status"):
    out = {}
    try:
        with open("/proc/%d/%s" % (pid, path)) as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in fields:
                    out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


def close_pool(pool):
    try:
        pool.close()
        pool.join(timeout=30)
    except Exception:
        pass
    if pool.active:
        pool.stop()
        pool.join(timeout=30)


def warm_up(pool, workers):
    # One trivial task per worker (roughly), so workers exist and are hot.
    futures = [pool.schedule(inc, (i,)) for i in range(workers * 4)]
    for f in futures:
        f.result(timeout=WAIT)


# Pebble notices timeouts, cancellations and dead workers from a manager thread
# that polls every CONSTS.sleep_unit (0.1 s).  A tight measuring loop becomes
# phase-locked to that poll (each sample starts right after the previous
# recovery, which itself happened on a poll), which would report an almost
# constant ~100 ms (M5a, M6a) or ~50 ms (M7) instead of the real 0-100 ms
# spread.  So each M5/M6/M7 sample starts after a random, untimed pause in
# [0, JITTER); the pauses are stratified (one per n-th of the interval, in
# random order) so that even a few samples cover every phase of the poll.
JITTER = 0.1


def jitters(n):
    rng = random.Random()
    delays = [(k + rng.random()) * JITTER / n for k in range(n)]
    rng.shuffle(delays)
    return delays


def ms(seconds):
    return seconds * 1e3


def us(seconds):
    return seconds * 1e6


# --------------------------------------------------------------------------
# Metrics.  Each function returns a list of rows.


def bench_m1(cfg):
    rows = []
    for impl, method, n in (
        ("pebble", "fork", cfg.m1_n),
        ("pebble-spawn", "spawn", cfg.m1_spawn_n),
    ):
        ctx = multiprocessing.get_context(method)
        latencies, rss, anon, pss = [], [], [], []
        try:
            for _ in range(n):
                gc.collect()
                t0 = now()
                pool = ProcessPool(max_workers=WORKERS, context=ctx)
                pool.schedule(inc, (1,)).result(timeout=WAIT)
                t1 = now()
                try:
                    latencies.append(ms(t1 - t0))
                    pid = pool.schedule(getpid).result(timeout=WAIT)
                    time.sleep(0.02)  # let it go idle
                    st = read_proc_kb(pid, ("VmRSS", "RssAnon"))
                    if "VmRSS" in st:
                        rss.append(st["VmRSS"])
                    if "RssAnon" in st:
                        anon.append(st["RssAnon"])
                    sm = read_proc_kb(pid, ("Pss",), "smaps_rollup")
                    if "Pss" in sm:
                        pss.append(sm["Pss"])
                finally:
                    close_pool(pool)
            rows.append(summary("M1", "ms", latencies, impl=impl, context=method))
            if rss:
                rows.append(
                    summary(
                        "M1-rss",
                        "kB",
                        rss,
                        impl=impl,
                        context=method,
                        # VmRSS of a forked worker counts pages shared
                        # copy-on-write with the parent; these help judge it.
                        rss_anon_kB=quantile(sorted(anon), 0.5) if anon else None,
                        pss_kB=quantile(sorted(pss), 0.5) if pss else None,
                    )
                )
            else:
                rows.append(
                    error_row("M1-rss", impl, WORKERS, RuntimeError("no /proc VmRSS"))
                )
        except Exception as exc:
            log(traceback.format_exc())
            rows.append(error_row("M1", impl, WORKERS, exc))
            rows.append(error_row("M1-rss", impl, WORKERS, exc))
    return rows


def _round_trips(pool, warmup, n):
    for i in range(warmup):
        pool.schedule(inc, (i,)).result(timeout=WAIT)
    samples = []
    for i in range(n):
        t0 = now()
        pool.schedule(inc, (i,)).result(timeout=WAIT)
        samples.append(us(now() - t0))
    return samples


def bench_m2_process(cfg):
    pool = ProcessPool(max_workers=WORKERS, context=multiprocessing.get_context("fork"))
    try:
        warm_up(pool, WORKERS)
        s = _round_trips(pool, cfg.m2_warmup, cfg.m2_n)
    finally:
        close_pool(pool)
    return [summary("M2-process", "us", s, context="fork", warmup=cfg.m2_warmup)]


def bench_m2_thread(cfg):
    pool = ThreadPool(max_workers=WORKERS)
    try:
        warm_up(pool, WORKERS)
        s = _round_trips(pool, cfg.m2_warmup, cfg.m2_n)
    finally:
        close_pool(pool)
    return [summary("M2-thread", "us", s, warmup=cfg.m2_warmup)]


def _burst(pool, count):
    gc.collect()
    t0 = now()
    futures = [pool.schedule(inc, (i,)) for i in range(count)]
    for f in futures:
        f.result(timeout=WAIT)
    return count / (now() - t0)


def bench_m3(cfg, metric="M3", workers=WORKERS):
    # One warmed pool reused for all samples.
    pool = ProcessPool(max_workers=workers, context=multiprocessing.get_context("fork"))
    try:
        warm_up(pool, workers)
        s = [_burst(pool, cfg.m3_tasks) for _ in range(cfg.tp_n)]
    finally:
        close_pool(pool)
    return [summary(metric, "tasks/s", s, workers=workers, context="fork", tasks=cfg.m3_tasks)]


def bench_m3_w4(cfg):
    return bench_m3(cfg, "M3-w4", 4)


def bench_m9(cfg):
    pool = ThreadPool(max_workers=WORKERS)
    try:
        warm_up(pool, WORKERS)
        s = [_burst(pool, cfg.m9_tasks) for _ in range(cfg.tp_n)]
    finally:
        close_pool(pool)
    return [summary("M9", "tasks/s", s, tasks=cfg.m9_tasks)]


def bench_m4(cfg, metric="M4", workers=WORKERS):
    items, chunksize = cfg.m4_items, 1000
    data = list(range(items))
    pool = ProcessPool(max_workers=workers, context=multiprocessing.get_context("fork"))
    try:
        warm_up(pool, workers)
        s = []
        for _ in range(cfg.tp_n):
            gc.collect()
            t0 = now()
            out = list(pool.map(inc, data, chunksize=chunksize).result())
            dt = now() - t0
            if len(out) != items or out[-1] != items:
                raise RuntimeError("map returned wrong results")
            s.append(items / dt)
    finally:
        close_pool(pool)
    return [
        summary(metric, "items/s", s, workers=workers, context="fork", items=items, chunksize=chunksize)
    ]


def bench_m4_w4(cfg):
    return bench_m4(cfg, "M4-w4", 4)


def bench_m5(cfg):
    # NOTE: Pebble starts a task's timeout clock when the worker acknowledges
    # the task (not at schedule()), and checks timeouts from a manager thread
    # that polls every CONSTS.sleep_unit (0.1 s).  We measure from schedule()
    # and subtract the 100 ms timeout, so M5a = (schedule -> TimeoutError)
    # - 100 ms, which includes dispatch + acknowledgement latency.
    timeout = 0.1
    pool = ProcessPool(max_workers=1, context=multiprocessing.get_context("fork"))
    a, b = [], []
    try:
        warm_up(pool, 1)
        for i, delay in enumerate(jitters(cfg.slow_n)):
            time.sleep(delay)
            t0 = now()
            f = pool.schedule(sleep_task, (10,), timeout=timeout)
            try:
                f.result(timeout=WAIT)
            except FuturesTimeoutError:  # == builtin TimeoutError on 3.11
                t1 = now()
            else:
                raise RuntimeError("sleep task did not time out")
            pool.schedule(inc, (i,)).result(timeout=WAIT)
            t2 = now()
            a.append(ms(t1 - t0) - timeout * 1e3)
            b.append(ms(t2 - t1))
    finally:
        close_pool(pool)
    return [
        summary("M5a", "ms", a, workers=1, context="fork", timeout_ms=100, jitter_ms=JITTER * 1e3,
                note="(schedule->TimeoutError) - 100 ms; Pebble's clock starts at worker ack"),
        summary("M5b", "ms", b, workers=1, context="fork", jitter_ms=JITTER * 1e3),
    ]


def bench_m6(cfg):
    # M6a is simply schedule -> ProcessExpired (includes the dispatch latency,
    # no round-trip baseline subtracted).
    pool = ProcessPool(max_workers=1, context=multiprocessing.get_context("fork"))
    a, b = [], []
    try:
        warm_up(pool, 1)
        for i, delay in enumerate(jitters(cfg.slow_n)):
            time.sleep(delay)
            t0 = now()
            f = pool.schedule(exit_task)
            try:
                f.result(timeout=WAIT)
            except ProcessExpired:
                t1 = now()
            else:
                raise RuntimeError("exit task did not raise ProcessExpired")
            pool.schedule(inc, (i,)).result(timeout=WAIT)
            t2 = now()
            a.append(ms(t1 - t0))
            b.append(ms(t2 - t1))
    finally:
        close_pool(pool)
    return [
        summary("M6a", "ms", a, workers=1, context="fork", jitter_ms=JITTER * 1e3,
                note="schedule->ProcessExpired, no baseline subtracted"),
        summary("M6b", "ms", b, workers=1, context="fork", jitter_ms=JITTER * 1e3),
    ]


def bench_m7(cfg):
    pool = ProcessPool(max_workers=1, context=multiprocessing.get_context("fork"))
    s = []
    try:
        warm_up(pool, 1)
        for i, delay in enumerate(jitters(cfg.slow_n)):
            time.sleep(delay)
            f = pool.schedule(sleep_task, (10,))
            # Wait until the worker acknowledged it (future is RUNNING), then
            # ~50 ms more so the task is really sleeping.
            deadline = now() + WAIT
            while not f.running():
                if now() > deadline:
                    raise RuntimeError("task never started")
                time.sleep(0.001)
            time.sleep(0.05)
            t0 = now()
            if not f.cancel():
                raise RuntimeError("cancel() returned False")
            pool.schedule(inc, (i,)).result(timeout=WAIT)
            s.append(ms(now() - t0))
    finally:
        close_pool(pool)
    return [summary("M7", "ms", s, workers=1, context="fork", jitter_ms=JITTER * 1e3)]


def bench_m8(cfg):
    size = 10 * MB
    payload = os.urandom(size)
    pool = ProcessPool(max_workers=WORKERS, context=multiprocessing.get_context("fork"))
    s = []
    try:
        warm_up(pool, WORKERS)
        pool.schedule(echo, (payload,)).result(timeout=WAIT)  # warm-up
        for _ in range(cfg.m8_n):
            gc.collect()
            t0 = now()
            out = pool.schedule(echo, (payload,)).result(timeout=WAIT)
            dt = now() - t0
            if len(out) != size:
                raise RuntimeError("echo returned %d bytes" % len(out))
            del out
            s.append(2 * size / MB / dt)
    finally:
        close_pool(pool)
    return [summary("M8", "MB/s", s, context="fork", bytes_each_way=size)]


def bench_x1(cfg):
    inc_process(0).result(timeout=WAIT)  # warm-up
    s = []
    for i in range(cfg.x1_n):
        t0 = now()
        inc_process(i).result(timeout=WAIT)
        s.append(ms(now() - t0))
    return [summary("X1", "ms", s, workers=1,
                    context=multiprocessing.get_start_method())]


def bench_x2(cfg):
    for i in range(cfg.x2_warmup):
        inc_thread(i).result(timeout=WAIT)
    s = []
    for i in range(cfg.x2_n):
        t0 = now()
        inc_thread(i).result(timeout=WAIT)
        s.append(us(now() - t0))
    return [summary("X2", "us", s, workers=1)]


# --------------------------------------------------------------------------
# Standard-library peers: multiprocessing.Pool and concurrent.futures, on the
# same tasks and counts as the Pebble rows above.

FORK = multiprocessing.get_context("fork")


class MpPool:
    """multiprocessing.Pool behind the small interface the peer benches use."""

    impl = "mp.Pool"
    process = True

    def __init__(self, workers):
        self.pool = FORK.Pool(workers)

    def call(self, fn, *args):
        return self.pool.apply_async(fn, args).get(timeout=WAIT)

    def burst(self, fn, count):
        results = [self.pool.apply_async(fn, (i,)) for i in range(count)]
        for r in results:
            r.get(timeout=WAIT)

    def map(self, fn, data, chunksize):
        return self.pool.map(fn, data, chunksize=chunksize)

    def close(self):
        self.pool.close()
        self.pool.join()


class CfExecutor:
    """concurrent.futures.ProcessPoolExecutor / ThreadPoolExecutor, the same way."""

    def __init__(self, workers, process):
        self.process = process
        self.impl = "cf.process" if process else "cf.thread"
        if process:
            self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=FORK)
        else:
            self.pool = ThreadPoolExecutor(max_workers=workers)

    def call(self, fn, *args):
        return self.pool.submit(fn, *args).result(timeout=WAIT)

    def burst(self, fn, count):
        futures = [self.pool.submit(fn, i) for i in range(count)]
        for f in futures:
            f.result(timeout=WAIT)

    def map(self, fn, data, chunksize):
        return list(self.pool.map(fn, data, chunksize=chunksize, timeout=WAIT))

    def close(self):
        self.pool.shutdown(wait=True)


def process_peers(workers):
    return [lambda: MpPool(workers), lambda: CfExecutor(workers, process=True)]


def _peer_rows(metric, makers, body):
    """Runs body(peer) for each peer made by makers; an error becomes an error row."""
    rows = []
    for make in makers:
        peer = None
        try:
            peer = make()
            rows.append(body(peer))
        except Exception as exc:
            log(traceback.format_exc())
            impl = peer.impl if peer is not None else "peer"
            rows.append(error_row(metric, impl, WORKERS, exc))
        finally:
            if peer is not None:
                try:
                    peer.close()
                except Exception:
                    pass
    return rows


def peer_warm_up(peer, workers):
    for i in range(workers * 4):
        peer.call(inc, i)


def bench_peers_m1(cfg):
    rows = []
    for make in process_peers(WORKERS):
        latencies, rss, impl = [], [], None
        try:
            for _ in range(cfg.m1_n):
                gc.collect()
                t0 = now()
                peer = make()
                try:
                    peer.call(inc, 1)
                    latencies.append(ms(now() - t0))
                    impl = peer.impl
                    pid = peer.call(getpid)
                    time.sleep(0.02)  # let it go idle
                    st = read_proc_kb(pid, ("VmRSS",))
                    if "VmRSS" in st:
                        rss.append(st["VmRSS"])
                finally:
                    peer.close()
            rows.append(summary("M1", "ms", latencies, impl=impl, context="fork"))
            rows.append(summary("M1-rss", "kB", rss, impl=impl, context="fork"))
        except Exception as exc:
            log(traceback.format_exc())
            rows.append(error_row("M1", impl or "peer", WORKERS, exc))
    return rows


def bench_peers_m2_process(cfg):
    def body(peer):
        peer_warm_up(peer, WORKERS)
        for i in range(cfg.m2_warmup):
            peer.call(inc, i)
        s = []
        for i in range(cfg.m2_n):
            t0 = now()
            peer.call(inc, i)
            s.append(us(now() - t0))
        return summary("M2-process", "us", s, impl=peer.impl, context="fork", warmup=cfg.m2_warmup)
    return _peer_rows("M2-process", process_peers(WORKERS), body)


def bench_peers_m2_thread(cfg):
    def body(peer):
        peer_warm_up(peer, WORKERS)
        for i in range(cfg.m2_warmup):
            peer.call(inc, i)
        s = []
        for i in range(cfg.m2_n):
            t0 = now()
            peer.call(inc, i)
            s.append(us(now() - t0))
        return summary("M2-thread", "us", s, impl=peer.impl, warmup=cfg.m2_warmup)
    return _peer_rows("M2-thread", [lambda: CfExecutor(WORKERS, process=False)], body)


def _peer_burst_rows(metric, makers, count, workers, cfg):
    def body(peer):
        peer_warm_up(peer, workers)
        s = []
        for _ in range(cfg.tp_n):
            gc.collect()
            t0 = now()
            peer.burst(inc, count)
            s.append(count / (now() - t0))
        return summary(metric, "tasks/s", s, impl=peer.impl, workers=workers, tasks=count)
    return _peer_rows(metric, makers, body)


def bench_peers_m3(cfg, metric="M3", workers=WORKERS):
    return _peer_burst_rows(metric, process_peers(workers), cfg.m3_tasks, workers, cfg)


def bench_peers_m3_w4(cfg):
    return bench_peers_m3(cfg, "M3-w4", 4)


def bench_peers_m9(cfg):
    return _peer_burst_rows("M9", [lambda: CfExecutor(WORKERS, process=False)], cfg.m9_tasks, WORKERS, cfg)


def bench_peers_m4(cfg, metric="M4", workers=WORKERS):
    items, chunksize = cfg.m4_items, 1000
    data = list(range(items))

    def body(peer):
        peer_warm_up(peer, workers)
        s = []
        for _ in range(cfg.tp_n):
            gc.collect()
            t0 = now()
            out = peer.map(inc, data, chunksize)
            dt = now() - t0
            if len(out) != items or out[-1] != items:
                raise RuntimeError("map returned wrong results")
            s.append(items / dt)
        return summary(metric, "items/s", s, impl=peer.impl, workers=workers, context="fork",
                       items=items, chunksize=chunksize)
    return _peer_rows(metric, process_peers(workers), body)


def bench_peers_m4_w4(cfg):
    return bench_peers_m4(cfg, "M4-w4", 4)


def bench_peers_m8(cfg):
    size = 10 * MB
    payload = os.urandom(size)

    def body(peer):
        peer_warm_up(peer, WORKERS)
        peer.call(echo, payload)  # warm-up
        s = []
        for _ in range(cfg.m8_n):
            gc.collect()
            t0 = now()
            out = peer.call(echo, payload)
            dt = now() - t0
            if len(out) != size:
                raise RuntimeError("echo returned %d bytes" % len(out))
            del out
            s.append(2 * size / MB / dt)
        return summary("M8", "MB/s", s, impl=peer.impl, context="fork", bytes_each_way=size)
    return _peer_rows("M8", process_peers(WORKERS), body)


# (function, metric names it produces) in run order; each Pebble bench is
# followed by its standard-library peers.
BENCHES = [
    (bench_m1, ["M1", "M1-rss"]),
    (bench_peers_m1, ["M1", "M1-rss"]),
    (bench_m2_process, ["M2-process"]),
    (bench_peers_m2_process, ["M2-process"]),
    (bench_m2_thread, ["M2-thread"]),
    (bench_peers_m2_thread, ["M2-thread"]),
    (bench_m3, ["M3"]),
    (bench_peers_m3, ["M3"]),
    (bench_m3_w4, ["M3-w4"]),
    (bench_peers_m3_w4, ["M3-w4"]),
    (bench_m9, ["M9"]),
    (bench_peers_m9, ["M9"]),
    (bench_m4, ["M4"]),
    (bench_peers_m4, ["M4"]),
    (bench_m4_w4, ["M4-w4"]),
    (bench_peers_m4_w4, ["M4-w4"]),
    (bench_m5, ["M5a", "M5b"]),
    (bench_m6, ["M6a", "M6b"]),
    (bench_m7, ["M7"]),
    (bench_m8, ["M8"]),
    (bench_peers_m8, ["M8"]),
    (bench_x1, ["X1"]),
    (bench_x2, ["X2"]),
]
# Rows only pebble-bench measures (Swift's async round trip against Task.detached): no Python
# counterpart, so asking for them here selects nothing instead of failing.
SWIFT_ONLY_METRICS = ["M2-async"]
ALL_METRICS = list(dict.fromkeys(m for _, names in BENCHES for m in names))


class Config:
    def __init__(self, quick):
        if quick:
            self.m1_n, self.m1_spawn_n = 3, 2
            self.m2_warmup, self.m2_n = 20, 200
            self.tp_n = 2
            self.m3_tasks, self.m9_tasks, self.m4_items = 2_000, 10_000, 20_000
            self.slow_n = 3
            self.m8_n = 2
            self.x1_n = 5
            self.x2_warmup, self.x2_n = 20, 100
        else:
            self.m1_n, self.m1_spawn_n = 30, 10
            self.m2_warmup, self.m2_n = 200, 2000
            self.tp_n = 5
            self.m3_tasks, self.m9_tasks, self.m4_items = 20_000, 100_000, 200_000
            self.slow_n = 30
            self.m8_n = 10
            self.x1_n = 30
            self.x2_warmup, self.x2_n = 100, 1000


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="tiny sample counts (smoke test, < 30 s)")
    ap.add_argument("--metrics", default="",
                    help="comma list of metric names or prefixes (e.g. M2,M5a)")
    args = ap.parse_args(argv)

    wanted = [w.strip() for w in args.metrics.split(",") if w.strip()]
    if wanted:
        selected = {m for m in ALL_METRICS if any(m.startswith(w) for w in wanted)}
        unknown = [w for w in wanted if not any(m.startswith(w) for m in ALL_METRICS)
                   and w not in SWIFT_ONLY_METRICS]
        if unknown:
            log("unknown metric(s): %s (known: %s)" % (", ".join(unknown), ", ".join(ALL_METRICS)))
            return 2
    else:
        selected = set(ALL_METRICS)

    cfg = Config(args.quick)
    meta = {
        "python": "%d.%d.%d" % sys.version_info[:3],
        "pebble": PEBBLE_VERSION,
        "quick": bool(args.quick),
    }
    log("pebble_bench: Python %s, Pebble %s, %s" % (meta["python"], meta["pebble"],
                                                    "quick" if args.quick else "full"))

    for fn, names in BENCHES:
        if not selected.intersection(names):
            continue
        log("pebble_bench: %s ..." % "/".join(n for n in names if n in selected))
        t0 = now()
        try:
            rows = fn(cfg)
        except BaseException as exc:  # keep going whatever happens
            if isinstance(exc, KeyboardInterrupt):
                raise
            log(traceback.format_exc())
            rows = [error_row(n, IMPL, WORKERS, exc) for n in names]
        for row in rows:
            if row["metric"] in selected:
                row.update(meta)
                print(json.dumps(row), flush=True)
        log("pebble_bench:   done in %.1f s" % (now() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
