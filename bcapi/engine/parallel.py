"""Map a function over a stream on worker processes: in order, with few items in flight.

Workers are forked, so they inherit what the caller built (compiled rulesets) instead of
rebuilding it, and `fn` need not be picklable; only the items and results cross processes.
At most `2 × jobs` chunks are queued at once, so a stream of any length runs in bounded
memory. Where fork is unavailable the map runs in this process.
"""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from itertools import chain, islice
from typing import Any, Callable, Iterable, Iterator

_task: Callable[[Any], Any] | None = None  # set before the fork, inherited by the workers


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _run_chunk(chunk: list) -> list:
    assert _task is not None
    return [_task(item) for item in chunk]


def ordered_map(fn: Callable[[Any], Any], items: Iterable, *, jobs: int | None = None,
                chunk_size: int = 32, serial_below: int = 500) -> Iterator:
    """`fn(item)` for each item, in order. `jobs=None`: every CPU, unless the stream turns out
    shorter than `serial_below` items, when starting workers would cost more than it saves."""
    global _task
    items = iter(items)
    if jobs is None:
        first = list(islice(items, serial_below))
        if len(first) < serial_below:
            yield from map(fn, first)
            return
        jobs, items = available_cpus(), chain(first, items)
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(fn, items)
        return
    _task = fn
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            pending: deque = deque()
            for chunk in iter(lambda: list(islice(items, chunk_size)), []):
                pending.append(pool.apply_async(_run_chunk, (chunk,)))
                if len(pending) >= 2 * jobs:
                    yield from pending.popleft().get()
            while pending:
                yield from pending.popleft().get()
            pool.close()
            pool.join()
    finally:
        _task = None
