"""SQLite's writers take turns on locks that wake the next at once (`WriterTurn`), across the
threads of a process and across the processes of a host (gunicorn's workers)."""
from __future__ import annotations

import os
import threading
import time

from bcapi.storage.database import WriterTurn


def test_a_writer_in_another_process_waits_for_the_turn(tmp_path):
    """The order of events, not a duration: the other process's write lands only after this one
    has said it is done, however slow or loaded the machine."""
    turn = WriterTurn(str(tmp_path / "db.sqlite3"))
    log = tmp_path / "order"
    with turn:
        ready_read, ready_write = os.pipe()
        child = os.fork()
        if child == 0:  # another worker: its turn comes only once the parent's ends
            os.write(ready_write, b"x")
            with turn:
                with open(log, "a") as out:
                    out.write("other process writes\n")
            os._exit(0)
        os.read(ready_read, 1)  # the other process is now waiting for its turn
        time.sleep(0.2)  # room for a broken lock to let it in early
        with open(log, "a") as out:
            out.write("this process is done\n")
    assert os.waitpid(child, 0)[1] == 0
    assert log.read_text().splitlines() == ["this process is done", "other process writes"]


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
