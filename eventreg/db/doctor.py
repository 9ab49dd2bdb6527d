"""`db doctor`: read-only checks of the invariants the registration rules promise,
and of the migration history.

Most are also held by constraints; the doctor checks them anyway, so a database
that was edited by hand, restored from elsewhere or migrated oddly is caught.
Every check is a query (or a comparison with the files and the local log) in one
read-only transaction; the doctor never changes anything, not even the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eventreg.db import migration_history as history
from eventreg.db.files import discover
from eventreg.db.history_log import DamagedLog, read_log, replay

INVALID_INDEXES = """
SELECT c.relname || ' on ' || t.relname AS detail
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
 ORDER BY c.relname
"""

# (name, what must hold, query returning one row per violation with a `detail` column)
CHECKS: list[tuple[str, str, str]] = [
    (
        "seat_count_matches",
        "registered_count equals the number of registered rows",
        """
        SELECT e.slug || ': registered_count ' || e.registered_count || ' but '
               || count(r.id) || ' registered rows' AS detail
          FROM events e LEFT JOIN registrations r ON r.event_id = e.id AND r.status = 'registered'
         GROUP BY e.id HAVING e.registered_count <> count(r.id)
        """,
    ),
    (
        "waitlist_length_matches",
        "waitlist_length equals the number of waitlisted rows",
        """
        SELECT e.slug || ': waitlist_length ' || e.waitlist_length || ' but '
               || count(r.id) || ' waitlisted rows' AS detail
          FROM events e LEFT JOIN registrations r ON r.event_id = e.id AND r.status = 'waitlisted'
         GROUP BY e.id HAVING e.waitlist_length <> count(r.id)
        """,
    ),
    (
        "within_capacity",
        "no event has more registered than its capacity",
        "SELECT slug || ': ' || registered_count || '/' || capacity AS detail FROM events"
        " WHERE registered_count > capacity",
    ),
    (
        "no_free_seat_while_waiting",
        "a published event with a free seat has an empty waitlist",
        """
        SELECT e.slug || ': ' || (e.capacity - e.registered_count) || ' free seat(s) and '
               || count(w.id) || ' waiting' AS detail
          FROM events e JOIN registrations w ON w.event_id = e.id AND w.status = 'waitlisted'
         WHERE e.status = 'published' AND e.registered_count < e.capacity
         GROUP BY e.id
        """,
    ),
    (
        "one_live_row_per_user",
        "nobody is registered or waitlisted twice for one event",
        """
        SELECT 'event ' || event_id || ', user ' || user_id || ': ' || count(*) || ' live rows' AS detail
          FROM registrations WHERE status IN ('registered', 'waitlisted')
         GROUP BY event_id, user_id HAVING count(*) > 1
        """,
    ),
    (
        "waitlist_rank_set",
        "every waitlisted row has a rank, and only those",
        "SELECT 'registration ' || id AS detail FROM registrations"
        " WHERE (status = 'waitlisted') <> (waitlist_rank IS NOT NULL)",
    ),
    (
        "cancelled_events_empty",
        "a cancelled event has no registered or waitlisted people",
        """
        SELECT e.slug || ': ' || count(*) || ' live row(s)' AS detail
          FROM events e JOIN registrations r ON r.event_id = e.id
         WHERE e.status = 'cancelled' AND r.status IN ('registered', 'waitlisted')
         GROUP BY e.id
        """,
    ),
    (
        "schedule_in_order",
        "every event ends after it starts",
        "SELECT slug AS detail FROM events WHERE ends_at <= starts_at",
    ),
    (
        "no_invalid_indexes",
        "no index is left invalid by a failed CREATE INDEX CONCURRENTLY (drop or REINDEX it)",
        INVALID_INDEXES,
    ),
]


def run_checks(
    conn: Any, migrations: Path | None = None, log: Path | None = None, database: str | None = None
) -> list[dict[str, Any]]:
    """Each check with its violations, in one read-only transaction (one snapshot).

    With `migrations` (the folder with up/), applied files are compared with the
    folder; with `log` and `database` (its label in the log), the local log with the table."""
    results = []
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for name, rule, query in CHECKS:
            rows = conn.execute(query).fetchall()
            results.append(_result(name, rule, [row["detail"] for row in rows]))
        results += _history_checks(conn, migrations, log, database)
    return results


def violations(conn: Any) -> set[str]:
    """Every violation of CHECKS as `check: detail`, read in the caller's transaction (as it sees it)."""
    return {f"{name}: {row['detail']}" for name, _, query in CHECKS for row in conn.execute(query).fetchall()}


def invalid_indexes(conn: Any) -> list[str]:
    return [row["detail"] for row in conn.execute(INVALID_INDEXES).fetchall()]


def _result(name: str, rule: str, violations: list[str]) -> dict[str, Any]:
    return {"check": name, "rule": rule, "ok": not violations, "violations": violations}


def _history_checks(conn: Any, migrations: Path | None, log: Path | None, database: str | None) -> list[dict[str, Any]]:
    applied = history.applied(conn)
    results = [
        _result(
            "no_failed_migrations",
            "no migration is left failed or interrupted halfway",
            [f.describe() for f in history.failures(conn)],
        )
    ]
    if migrations is not None:
        results.append(_result("migration_files_match", "every applied migration has its file, unchanged",
                               _file_problems(applied, migrations / "up")))  # fmt: skip
    if log is not None and database is not None:
        results.append(_result("history_log_matches", f"the local {log.name} agrees with schema_migrations",
                               _log_problems(applied, log, database)))  # fmt: skip
    return results


def _file_problems(applied: dict[str, dict[str, Any]], up_dir: Path) -> list[str]:
    files = {f.version: f for f in discover(up_dir)}
    problems = []
    for version, row in applied.items():
        file = files.get(version)
        if file is None:
            problems.append(f"{row['name']}: applied, but missing from {up_dir}")
        elif file.checksum() != row["checksum"]:
            problems.append(f"{row['name']}: changed since it was applied")
    return problems


def _log_problems(applied: dict[str, dict[str, Any]], log: Path, database: str) -> list[str]:
    try:
        logged = replay(read_log(log), database)
    except DamagedLog as damaged:
        return [f"{log} is damaged: {damaged.reason}"]
    if logged is None:
        return []  # this machine never migrated this database: nothing to compare
    problems = []
    for version in sorted(set(logged) | set(applied), key=int):
        row = applied.get(version)
        if row is None:
            problems.append(f"{version}: the log says applied, the database has no record of it")
        elif version not in logged:
            problems.append(f"{row['name']}: applied in the database, not in this machine's log")
        elif logged[version] != row["checksum"]:
            problems.append(f"{row['name']}: checksum in the log differs from the database's")
    return problems
