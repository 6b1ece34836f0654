"""How queries share the store: a readers-writer lock.

A query that only reads holds the lock shared, so reads run side by side,
each at its own snapshot; a query that writes holds it exclusively, so
every transaction is serializable and a read sees all of a transaction's
writes or none.  Which kind a query is cannot always be told before it
runs (a cursor's lambdas may write): a query started as a read that comes
to its first write raises `WriteNeeded` before it has changed anything,
and the server runs it again, alone.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator, Optional


class WriteNeeded(BaseException):
    """A query running under the shared lock is about to write.  A
    BaseException, so that no `except Exception` on the way turns it into
    a query error."""


class RWLock:
    """Shared readers, one exclusive writer.  A waiting writer holds back
    new readers (a stream of reads cannot starve a write).  The writer may
    take the lock again, shared or exclusive; a reader may take it shared
    again.  `with lock:` takes it exclusively."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: Optional[int] = None
        self._depth = 0
        self._writers_waiting = 0
        self._local = threading.local()

    @contextmanager
    def shared(self) -> Iterator[None]:
        me = threading.get_ident()
        held = getattr(self._local, "reads", 0)
        if self._writer == me or held:
            self._local.reads = held + 1
            try:
                yield
            finally:
                self._local.reads = held
            return
        with self._cond:
            while self._writer is not None or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        self._local.reads = 1
        try:
            yield
        finally:
            self._local.reads = 0
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
                return
            if getattr(self._local, "reads", 0):
                raise RuntimeError("a reader cannot take the store lock exclusively")
            self._writers_waiting += 1
            try:
                while self._writer is not None or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = me
            self._depth = 1

    def release(self) -> None:
        with self._cond:
            self._depth -= 1
            if not self._depth:
                self._writer = None
                self._cond.notify_all()

    def __enter__(self) -> "RWLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
