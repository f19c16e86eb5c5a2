"""SQLite's writers take turns on locks that wake the next at once (`WriterTurn`), across the
threads of a process and across the processes of a host (gunicorn's workers)."""
from __future__ import annotations

import os
import threading
import time

from bcapi.storage.database import WriterTurn


def test_a_writer_in_another_process_waits_for_the_turn(tmp_path):
    turn = WriterTurn(str(tmp_path / "db.sqlite3"))
    with turn:
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # another worker: its turn comes only once the parent's ends
            started = time.monotonic()
            with turn:
                waited = time.monotonic() - started
            os.write(write_end, b"%.3f" % waited)
            os._exit(0)
        time.sleep(0.5)
    os.waitpid(child, 0)
    waited = float(os.read(read_end, 32))
    assert waited >= 0.4  # it could not write while this process held the turn


def test_threads_take_turns_and_a_nested_turn_does_not_deadlock(tmp_path):
    turn = WriterTurn(str(tmp_path / "db.sqlite3"))
    inside, most = [0], [0]

    def write():
        for _ in range(50):
            with turn:
                with turn:  # a unit of work inside another, in one thread
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                    inside[0] -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert most[0] == 1
    assert (tmp_path / "db.sqlite3.writers").exists()
