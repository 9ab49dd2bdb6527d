"""Shared set-up for the benchmarks: a server, a fresh migrated database, users."""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventreg.db.connection import connect, ensure_database, start_embedded, stop_embedded
from eventreg.db.files import packaged_dir
from eventreg.db.migrations import MigrationRunner


@contextmanager
def server_url() -> Iterator[tuple[str, bool]]:
    """EVENTREG_BENCH_DATABASE_URL (an admin URL), else an embedded server in a temp
    folder, stopped afterwards. Yields the URL and whether it is the embedded one."""
    external = os.environ.get("EVENTREG_BENCH_DATABASE_URL")
    if external:
        yield external, False
        return
    home = Path(os.environ.get("EVENTREG_BENCH_HOME") or tempfile.mkdtemp(prefix="eventreg-bench-"))
    info = start_embedded(home, announce=False)
    try:
        yield f"postgresql://postgres@/postgres?host={info['socket_dir']}&port={info['port']}", True
    finally:
        stop_embedded(home)


def fresh_database(admin_url: str) -> str:
    name = f"eventreg_bench_{uuid.uuid4().hex[:8]}"
    ensure_database(admin_url, name)
    url = make_conninfo(admin_url, dbname=name)
    MigrationRunner(url, packaged_dir("migrations"), Path(tempfile.mkdtemp()) / "log.json").migrate()
    return url


def insert_users(conn: Any, count: int, prefix: str) -> list[dict[str, Any]]:
    return conn.execute(
        "INSERT INTO users (email, name) SELECT %s || g || '@bench.example', 'Bench ' || g"
        " FROM generate_series(1, %s) g ORDER BY g RETURNING id, email, name, role",
        (prefix, count),
    ).fetchall()


def staff_actor(conn: Any) -> Any:
    from eventreg.auth.service import Actor

    row = conn.execute(
        "INSERT INTO users (email, name, role) VALUES (%s, 'Bench Staff', 'staff') RETURNING id, email, name, role",
        (f"staff-{uuid.uuid4().hex[:6]}@bench.example",),
    ).fetchone()
    return Actor(row["id"], row["email"], row["name"], row["role"], str(uuid.uuid4()))


def conninfo_parts(url: str) -> dict[str, str]:
    return {k: str(v) for k, v in conninfo_to_dict(url).items()}


def summary(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms, n={len(ordered)}"


def open_conn(url: str) -> Any:
    return connect(url)
