"""A pytest plugin for bench/mutate.py: which test runs which line of the module under mutation.

Loaded with `-p mutate_coverage` and MUTATE_TARGET / MUTATE_DATA set; records coverage of the
target only, in one context per test (its node id), so that each mutant runs only the tests
that reach its lines.
"""
from __future__ import annotations

import os

import coverage
import pytest

_cov: coverage.Coverage | None = None
_order: list[str] = []


def pytest_configure(config):
    global _cov
    _cov = coverage.Coverage(data_file=os.environ["MUTATE_DATA"], include=[os.environ["MUTATE_TARGET"]])
    _cov.start()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _cov.switch_context(item.nodeid)
    _order.append(item.nodeid)
    yield
    _cov.switch_context("")


def pytest_unconfigure(config):
    _cov.stop()
    _cov.save()
    with open(os.environ["MUTATE_DATA"] + ".order", "w", encoding="utf-8") as out:
        out.write("\n".join(_order))
