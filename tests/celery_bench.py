"""The Celery side of `bench jobs`: N no-op tasks through Redis, consumed by
one Celery worker process (prefork, one child per core), on the same machine
and Redis as the DTX measurement. Prints one JSON line with the figures.

Usage: python celery_bench.py [N]   (needs celery and redis installed)
"""
import json
import os
import subprocess
import sys
import time

import redis
from celery import Celery

BROKER = os.environ.get("CELERY_BENCH_BROKER", "redis://127.0.0.1:6379/14")
COUNTER = "celery_bench:done"
QUEUE = "celery_bench"

app = Celery("celery_bench", broker=BROKER)
app.conf.update(
    task_ignore_result=True,
    task_default_queue=QUEUE,
    worker_prefetch_multiplier=64,
    broker_connection_retry_on_startup=True,
)
counter = redis.Redis.from_url(BROKER)


@app.task(name="noop")
def noop():
    # Completion is counted in Redis: one INCR per task.
    counter.incr(COUNTER)


def wait_for(n, deadline_s):
    deadline = time.time() + deadline_s
    while int(counter.get(COUNTER) or 0) < n:
        if time.time() > deadline:
            raise SystemExit(f"celery finished only {counter.get(COUNTER)} of {n} tasks")
        time.sleep(0.01)


def start_worker():
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_bench", "worker", "--loglevel=WARNING", "-Q", QUEUE,
         "--concurrency", str(os.cpu_count() or 2), "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=os.path.dirname(os.path.abspath(__file__)),
    )


def drain(n):
    """Enqueue n tasks with no worker running, then time one worker draining
    them, from its first completion to its last."""
    counter.delete(COUNTER, QUEUE)
    for _ in range(n):
        noop.delay()
    worker = start_worker()
    try:
        wait_for(1, 120)
        first = time.perf_counter()
        wait_for(n, 600)
        return (n - 1) / (time.perf_counter() - first)
    finally:
        worker.terminate()
        worker.wait(30)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    counter.delete(COUNTER, QUEUE)
    worker = start_worker()
    try:
        noop.delay()
        wait_for(1, 120)
        counter.set(COUNTER, 0)
        latencies = []
        start = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            noop.delay()
            latencies.append(time.perf_counter() - t)
        wait_for(n, 600)
        elapsed = time.perf_counter() - start
        latencies.sort()
        worker.terminate()
        worker.wait(30)
        drain_rate = drain(n)
        print(json.dumps({
            "drain_jobs_per_s": drain_rate,
            "jobs": n,
            "seconds": elapsed,
            "jobs_per_s": n / elapsed,
            "enqueue_p50_ms": latencies[len(latencies) // 2] * 1000,
            "enqueue_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        }))
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(30)
        counter.delete(COUNTER, QUEUE)


if __name__ == "__main__":
    main()
