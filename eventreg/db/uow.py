"""The unit of work: one connection and one transaction for one command or one request.

`LocalApi` opens it around each use case; the services inside receive it and
never open transactions of their own. Leaving the block commits, an exception
rolls back, and a dry run rolls back on purpose, so it shows exactly what the real
run would have done. The few places that must keep something even though the
use case then fails (a counted sign-in attempt) call `commit()` themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

ConnectionSource = Callable[[], AbstractContextManager["psycopg.Connection[Any]"]]


class UnitOfWork:
    def __init__(self, conn: psycopg.Connection[Any], dry_run: bool = False) -> None:
        self.conn = conn
        self.dry_run = dry_run

    def commit(self) -> None:
        self.conn.commit()

    @contextmanager
    def by_itself(self) -> Iterator[None]:
        """What runs inside is one statement that is its own transaction (autocommit), after
        what this unit did so far is committed: for a use case decided in one statement
        (the seat functions), whose locks then last as long as that statement and not a
        network round trip more. In a dry run it stays in the transaction to be rolled back."""
        if self.dry_run or self.conn.autocommit:  # rolled back later, or every statement is its own already
            yield
            return
        self.conn.commit()
        self.conn.autocommit = True
        try:
            yield
        finally:
            self.conn.autocommit = False


@contextmanager
def unit_of_work(
    source: ConnectionSource, *, snapshot: bool = False, dry_run: bool = False, autocommit: bool = False
) -> Iterator[UnitOfWork]:
    """`snapshot`: a read-only transaction whose reads all see one moment (REPEATABLE READ).
    `autocommit`: every statement is its own transaction, for a use case that reads, then
    decides in one statement (registering): no BEGIN and COMMIT round trips around it."""
    with source() as conn:
        if autocommit:
            conn.autocommit = True
        try:
            if snapshot:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                yield UnitOfWork(conn, dry_run)
            except BaseException:
                if not conn.closed:
                    conn.rollback()
                raise
            if dry_run:
                conn.rollback()
            else:
                conn.commit()
        finally:
            if autocommit and not conn.closed:
                conn.autocommit = False  # a pooled connection goes back as it came
