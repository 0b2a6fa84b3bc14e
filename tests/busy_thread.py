"""A Python thread that never sleeps, as the crawl's thread nearly never does: beside it, every time another
thread gives up the GIL (an SQLite step, a socket call) it can wait the switch interval to take it back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def busy_thread() -> Iterator[None]:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin, name="busy", daemon=True)
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join()
