"""`db doctor`: read-only checks of the invariants the registration rules promise,
and of the migration history.

Most are also held by constraints; the doctor checks them anyway, so a database
that was edited by hand, restored from elsewhere or migrated oddly is caught.
Every check is a query (or a comparison with the files and the local log) in one
read-only transaction; the doctor never changes anything, not even the log. A check
fails on a violation; a note (a migration another machine applied, absent from this
machine's log) is shown with it and fails nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

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


class SchemaObject(NamedTuple):
    version: str  # the migration that creates it: required once that migration is applied
    kind: str  # 'unique index', 'check', 'trigger', 'function' or 'sequence'
    name: str
    table: str = ""  # the table it belongs to ('' for a function or a sequence)


# The objects the invariants rely on, as migrations/up creates them. A migration that
# adds, renames or drops one changes this list too: tests/db/test_doctor_schema.py
# compares the names with the files. Column CHECKs unnamed in the files get
# PostgreSQL's names (<table>_<column>_check, <table>_<column>_key).
SCHEMA_OBJECTS: list[SchemaObject] = [
    SchemaObject("0001", "unique index", "users_email_lower_key", "users"),
    SchemaObject("0004", "unique index", "events_slug_key", "events"),
    SchemaObject("0004", "check", "events_capacity_check", "events"),
    SchemaObject("0004", "check", "events_registered_count_check", "events"),
    SchemaObject("0004", "check", "events_status_check", "events"),
    SchemaObject("0004", "check", "events_seats_within_capacity", "events"),
    SchemaObject("0004", "check", "events_ends_after_start", "events"),
    SchemaObject("0004", "check", "events_window_in_order", "events"),
    SchemaObject("0005", "sequence", "waitlist_rank_seq"),
    SchemaObject("0005", "check", "registrations_status_check", "registrations"),
    SchemaObject("0005", "check", "registrations_rank_iff_waitlisted", "registrations"),
    SchemaObject("0005", "check", "registrations_checkin_needs_seat", "registrations"),
    SchemaObject("0005", "check", "registrations_seat_has_time", "registrations"),
    SchemaObject("0005", "unique index", "registrations_one_live_per_user", "registrations"),
    SchemaObject("0008", "check", "events_waitlist_length_not_negative", "events"),
    SchemaObject("0008", "function", "eventreg_count_seats"),
    SchemaObject("0008", "trigger", "registrations_count_inserted", "registrations"),
    SchemaObject("0008", "trigger", "registrations_count_deleted", "registrations"),
    SchemaObject("0008", "trigger", "registrations_count_updated", "registrations"),
    SchemaObject("0009", "unique index", "security_questions_user_key", "security_questions"),
    SchemaObject("0011", "function", "eventreg_promote_head"),
    SchemaObject("0011", "function", "eventreg_take_place"),
    SchemaObject("0011", "function", "eventreg_give_up_place"),
]

# Each expected object (of an applied migration) that is missing, or there but not doing
# its work: an index not unique or invalid, a CHECK added NOT VALID, a trigger disabled
# (or set to fire only on replicas). Read from the catalogs, in the schema the other
# checks' unqualified names resolve to (current_schema()).
SCHEMA_QUERY = """
WITH expected (version, kind, name, tbl) AS (VALUES {expected}),
wanted AS (SELECT x.* FROM expected x JOIN schema_migrations m ON m.version = x.version),
found (kind, name, tbl, problem) AS (
    SELECT 'unique index', c.relname::text, t.relname::text,
           CASE WHEN NOT i.indisunique THEN 'not unique'
                WHEN NOT (i.indisvalid AND i.indisready) THEN 'invalid (drop it and create it again, or REINDEX it)'
           END
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
     WHERE c.relnamespace = to_regnamespace(current_schema())
    UNION ALL
    SELECT 'check', k.conname::text, t.relname::text,
           CASE WHEN NOT k.convalidated THEN 'not validated (added NOT VALID; VALIDATE CONSTRAINT it)' END
      FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
     WHERE k.contype = 'c' AND t.relnamespace = to_regnamespace(current_schema())
    UNION ALL
    SELECT 'trigger', g.tgname::text, t.relname::text,
           CASE g.tgenabled WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'fires only on replicas' END
      FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
     WHERE NOT g.tgisinternal AND t.relnamespace = to_regnamespace(current_schema())
    UNION ALL
    SELECT DISTINCT 'function', p.proname::text, '', NULL::text
      FROM pg_proc p WHERE p.pronamespace = to_regnamespace(current_schema())
    UNION ALL
    SELECT 'sequence', c.relname::text, '', NULL
      FROM pg_class c WHERE c.relkind = 'S' AND c.relnamespace = to_regnamespace(current_schema())
)
SELECT w.kind || ' ' || w.name || CASE WHEN w.tbl <> '' THEN ' on ' || w.tbl ELSE '' END || ': '
       || coalesce(f.problem, 'missing') AS detail
  FROM wanted w LEFT JOIN found f ON f.kind = w.kind AND f.name = w.name AND f.tbl = w.tbl
 WHERE f.name IS NULL OR f.problem IS NOT NULL
 ORDER BY w.version, w.kind, w.name
"""


def _schema_query() -> sql.Composed:
    rows = [sql.SQL("({})").format(sql.SQL(", ").join(map(sql.Literal, item))) for item in SCHEMA_OBJECTS]
    return sql.SQL(SCHEMA_QUERY).format(expected=sql.SQL(", ").join(rows))


Query = str | sql.Composed

# (name, what must hold, query returning one row per violation with a `detail` column)
CHECKS: list[tuple[str, str, Query]] = [
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
        "waitlist_ranks_unique",
        "no two people waiting for one event share a rank",
        # No constraint holds this: joiners take ranks from waitlist_rank_seq (next check), and
        # `waitlist move` takes a rank strictly between two neighbours under the event's row lock.
        """
        SELECT e.slug || ': rank ' || r.waitlist_rank || ' held by ' || count(*) || ' waiting rows' AS detail
          FROM registrations r JOIN events e ON e.id = r.event_id
         WHERE r.status = 'waitlisted'
         GROUP BY e.id, r.waitlist_rank HAVING count(*) > 1
        """,
    ),
    (
        "rank_sequence_ahead",
        "waitlist_rank_seq gives new joiners a rank after every rank in use",
        # eventreg_take_place (0011) ranks a joiner with nextval and takes its position to be
        # the line's length + 1: right only while the next value is above every rank in use.
        """
        SELECT 'waitlist_rank_seq gives ' || s.next || ' next, but rank ' || m.top || ' is in use' AS detail
          FROM (SELECT CASE WHEN q.is_called THEN q.last_value + p.seqincrement ELSE q.last_value END AS next
                  FROM waitlist_rank_seq q, pg_sequence p WHERE p.seqrelid = 'waitlist_rank_seq'::regclass) s,
               (SELECT max(waitlist_rank) AS top FROM registrations WHERE status = 'waitlisted') m
         WHERE m.top >= s.next
        """,
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
    (
        "schema_objects_present",
        "the indexes, CHECKs, triggers, functions and sequence the rules rely on are there and in force",
        _schema_query(),
    ),
]


def run_checks(
    conn: Any, migrations: Path | None = None, log: Path | None = None, database: str | None = None
) -> list[dict[str, Any]]:
    """Each check with its violations (and notes, which do not fail it), in one read-only
    transaction (one snapshot).

    With `migrations` (the folder with up/), applied files are compared with the
    folder; with `log` and `database` (its label in the log), the local log with the table."""
    results = []
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for name, rule, query in CHECKS:
            results.append(_result(name, rule, _findings(conn, query)))
        results += _history_checks(conn, migrations, log, database)
    return results


def violations(conn: Any) -> set[str]:
    """Every violation of CHECKS as `check: detail`, read in the caller's transaction (as it sees it)."""
    return {f"{name}: {detail}" for name, _, query in CHECKS for detail in _findings(conn, query)}


def invalid_indexes(conn: Any) -> list[str]:
    return [row["detail"] for row in conn.execute(INVALID_INDEXES).fetchall()]


def _findings(conn: Any, query: Query) -> list[str]:
    """The `detail` of each row; a check that cannot run (its table, column or sequence is
    gone, which schema_objects_present names) says so, in a savepoint, and the others still run."""
    try:
        with conn.transaction():
            return [row["detail"] for row in conn.execute(query).fetchall()]
    except psycopg.ProgrammingError as exc:
        return [f"the check could not run: {exc.diag.message_primary or exc}"]


def _result(name: str, rule: str, violations: list[str], notes: list[str] | None = None) -> dict[str, Any]:
    return {"check": name, "rule": rule, "ok": not violations, "violations": violations, "notes": notes or []}


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
        problems, notes = _log_findings(applied, log, database)
        results.append(_result("history_log_matches", f"the local {log.name} agrees with schema_migrations",
                               problems, notes))  # fmt: skip
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


DAMAGED_LOG_FIX = "the next `eventreg db migrate` or `db repair` moves it aside and starts a new one"


def _log_findings(applied: dict[str, dict[str, Any]], log: Path, database: str) -> tuple[list[str], list[str]]:
    """(violations, notes). The log is this machine's (EVENTREG_HOME): a migration another
    machine applied is in the database and not here, which is a note. The log saying
    applied what the database lacks, or another checksum, is a contradiction."""
    try:
        logged = replay(read_log(log), database)
    except DamagedLog as damaged:
        return [f"{log} is damaged: {damaged.reason}; {DAMAGED_LOG_FIX}"], []
    if logged is None:
        return [], []  # this machine never migrated this database: nothing to compare
    problems, notes = [], []
    for version in sorted(set(logged) | set(applied), key=int):
        row = applied.get(version)
        if row is None:
            problems.append(f"{version}: the log says applied, the database has no record of it")
        elif version not in logged:
            notes.append(f"{row['name']}: applied in the database, not in this machine's log (another machine's?)")
        elif logged[version] != row["checksum"]:
            problems.append(f"{row['name']}: checksum in the log differs from the database's")
    return problems, notes
