"""wait_until: the one polling loop the tests use for anything another process does."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")
DEFAULT_WAIT = 60.0


def wait_until(condition: Callable[[], T], timeout: float = DEFAULT_WAIT, interval: float = 0.1,
               message: str = "condition") -> T:
    """condition()'s first truthy value; fails the test, naming `message`, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(interval)
