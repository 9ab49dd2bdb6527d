"""Least privilege: who may change the schema, and what an application role needs.

Migrations, seeds and the other `db` tools run as the owner of the schema;
`require_owner` refuses anyone else with a sentence that says so. Everything else
(sign-up, login, events, registration, waitlist, admin) can run as a role that
holds only APP_GRANTS: it cannot change the schema, rewrite history or delete
events, users or the audit log. `db grant ROLE` records the role, and every
`db migrate` that applies a file grants again to each recorded role, so tables
made by later migrations are covered (a test checks that every table of the
schema is either in APP_GRANTS or in TOOLING_TABLES).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from eventreg.errors import DomainError, NotFound, PermissionDenied

# table -> privileges the everyday commands use (and no more). UPDATE is granted on the
# columns the code changes, never on ids, owners, creation times or slugs, so even the
# holder of the application role's password cannot move a registration to another
# person or event, or rewrite who created what and when.
APP_GRANTS: dict[str, tuple[str, ...]] = {
    "users": ("SELECT", "INSERT", "UPDATE(name, email, password_hash, role, is_active, updated_at)"),
    "security_questions": ("SELECT", "INSERT", "DELETE"),  # replacing questions deletes the old ones
    "security_question_catalogue": ("SELECT",),
    "sessions": ("SELECT", "INSERT", "UPDATE(revoked_at)"),
    "auth_throttle": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # counted in one upsert; old windows pruned
    # a new code replaces the old one in an upsert; a code is deleted once used
    "password_resets": ("SELECT", "INSERT", "UPDATE(code_hash, created_by, created_at, expires_at)", "DELETE"),
    "events": (
        "SELECT",
        "INSERT",
        "UPDATE(title, description, location, starts_at, ends_at, registration_opens_at, registration_closes_at,"
        " status, capacity, registered_count, waitlist_length, updated_at)",  # the counters move by trigger
    ),
    "event_organisers": ("SELECT", "INSERT", "DELETE"),
    # a cancellation is an UPDATE, never a DELETE
    "registrations": (
        "SELECT",
        "INSERT",
        "UPDATE(status, registered_at, cancelled_at, checked_in_at, waitlist_rank, updated_at)",
    ),
    "audit_log": ("SELECT", "INSERT"),
    "schema_migrations": ("SELECT",),
    "schema_migration_failures": ("SELECT",),  # so `db status` can show a failed file to anyone
}
APP_SEQUENCES = ("waitlist_rank_seq",)
# The tools' own tables: the application role gets nothing on them.
TOOLING_TABLES = (
    "seed_batches",
    "seed_history",
    "seed_rows",
    "eventreg_app_roles",
)
ROLES_DDL = """
CREATE TABLE IF NOT EXISTS eventreg_app_roles (
    role       text PRIMARY KEY,
    granted_at timestamptz NOT NULL DEFAULT now(),
    granted_by text NOT NULL DEFAULT current_user
)
"""


def require_owner(conn: Any, command: str) -> None:
    """Refuse, in words, a role that does not own the schema (or cannot create it yet)."""
    row = conn.execute(
        """
        SELECT current_user AS me,
               COALESCE(t.relowner, n.nspowner)::regrole::text AS owner,
               pg_has_role(current_user, COALESCE(t.relowner, n.nspowner), 'USAGE') AS owns,
               has_schema_privilege(n.oid, 'CREATE') AS may_create,
               t.oid IS NOT NULL AS migrated
          FROM pg_namespace n
          LEFT JOIN pg_class t ON t.oid = to_regclass('schema_migrations')
         WHERE n.nspname = current_schema()
        """
    ).fetchone()
    if row is None:
        raise PermissionDenied(
            f"no schema to work in (check the role's search_path); run `eventreg {command}` as the schema owner"
        )
    if row["owns"] or (not row["migrated"] and row["may_create"]):
        return
    raise PermissionDenied(
        f"connected as {row['me']}, which does not own the eventreg schema (its owner is {row['owner']}): "
        f"run `eventreg {command}` as the schema owner"
    )


def grant_app_role(conn: Any, role: str) -> list[str]:
    """Grant the application privileges to an existing role and remember it; returns what was granted."""
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
        raise NotFound(f"no PostgreSQL role {role!r}: create it first (CREATE ROLE {role} LOGIN PASSWORD '...')")
    if conn.execute("SELECT to_regclass('schema_migrations') IS NULL AS bare").fetchone()["bare"]:
        raise DomainError("the database has no eventreg tables yet: run `eventreg db migrate` first")
    require_owner(conn, "db grant")
    _require_owned(conn)
    warnings: list[str] = []
    conn.add_notice_handler(lambda diag: warnings.append(diag.message_primary or ""))
    with conn.transaction():
        done = _grant(conn, role)
        conn.execute(ROLES_DDL)
        conn.execute(
            "INSERT INTO eventreg_app_roles (role) VALUES (%s)"
            " ON CONFLICT (role) DO UPDATE SET granted_at = now(), granted_by = current_user",
            (role,),
        )
        refused = [w for w in warnings if "no privileges" in w or "not all privileges" in w]
        if refused:
            raise PermissionDenied(
                f"PostgreSQL granted less than asked ({refused[0]}): run `eventreg db grant` as the schema owner"
            )
    return done


def regrant(conn: Any) -> list[str]:
    """Grant again to every recorded application role (after migrations made new tables)."""
    if conn.execute("SELECT to_regclass('eventreg_app_roles') IS NULL AS none").fetchone()["none"]:
        return []
    roles = [
        r["role"]
        for r in conn.execute(
            "SELECT a.role FROM eventreg_app_roles a JOIN pg_roles r ON r.rolname = a.role ORDER BY a.role"
        ).fetchall()
    ]
    for role in roles:
        with conn.transaction():
            _grant(conn, role)
    return roles


def _grant(conn: Any, role: str) -> list[str]:
    who = sql.Identifier(role)
    database = conn.execute("SELECT current_database() AS db").fetchone()["db"]
    conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(database), who))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(_schema(conn)), who))
    present = _present(conn, list(APP_GRANTS) + list(APP_SEQUENCES))
    done = []
    for table, privileges in APP_GRANTS.items():
        if table not in present:
            continue  # an older schema without this table
        listed = sql.SQL(", ").join(sql.SQL(p) for p in privileges)  # constants of this module, never input
        # Revoke first, so a role granted more by an older eventreg (or by hand) ends with exactly this.
        conn.execute(sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(sql.Identifier(table), who))
        conn.execute(sql.SQL("GRANT {} ON TABLE {} TO {}").format(listed, sql.Identifier(table), who))
        done.append(f"{', '.join(privileges)} on {table}")
    for sequence in APP_SEQUENCES:
        if sequence in present:
            conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.Identifier(sequence), who))
            done.append(f"USAGE on {sequence}")
    return done


def _schema(conn: Any) -> str:
    return str(conn.execute("SELECT current_schema() AS s").fetchone()["s"])


def _present(conn: Any, names: list[str]) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
        " AND c.relname = ANY(%s)",
        (names,),
    ).fetchall()
    return {r["relname"] for r in rows}


def _require_owned(conn: Any) -> None:
    """GRANT on a table one does not own only warns; refuse before, naming the tables."""
    rows = conn.execute(
        "SELECT c.relname, c.relowner::regrole::text AS owner FROM pg_class c"
        " WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%s)"
        " AND NOT pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY c.relname",
        (list(APP_GRANTS) + list(APP_SEQUENCES),),
    ).fetchall()
    if rows:
        names = ", ".join(f"{r['relname']} (owner {r['owner']})" for r in rows)
        raise PermissionDenied(f"you do not own {names}: run `eventreg db grant` as the schema owner")
