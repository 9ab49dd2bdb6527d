"""Least privilege: who may change the schema, and what an application role needs.

Migrations, seeds and the other `db` tools run as the owner of the schema;
`require_owner` refuses anyone else with a sentence that says so. Everything else
(sign-up, login, events, registration, waitlist, admin) can run as a role that
holds only APP_GRANTS: it cannot change the schema, rewrite history or delete
events, users or the audit log. `db grant ROLE` records the role, and every
`db migrate` that applies a file grants again to each recorded role, so tables
made by later migrations are covered (a test checks that every table of the
schema is either in APP_GRANTS or in TOOLING_TABLES).

`db grant` refuses (DomainError, exit 1), before changing anything, a role that
would not be restricted by the grants or that the grants would lock out: the role
the command is connected as, a superuser, a role with BYPASSRLS, and a role that
owns (or is a member of a role that owns) the schema or anything in it. The grant's
`REVOKE ALL` would otherwise strip the owner of its own privileges. `db migrate`
skips such a role if an older eventreg recorded it.
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
    reason = unsafe_reason(conn, role)
    if reason is not None:
        raise DomainError(
            f"refusing to grant the application privileges to {role}: it {reason}; "
            "the application role must be a separate role that owns nothing (CREATE ROLE eventreg_app LOGIN ...)"
        )
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
    """Grant again to every recorded application role (after migrations made new tables).

    A recorded role that `db grant` now refuses (an older eventreg recorded the owner,
    say) is skipped: its REVOKE ALL would lock the owner out. See `unsafe_recorded_roles`."""
    granted = []
    for role in recorded_roles(conn):
        if unsafe_reason(conn, role) is None:
            with conn.transaction():
                _grant(conn, role)
            granted.append(role)
    return granted


def recorded_roles(conn: Any) -> list[str]:
    """The roles `db grant` recorded that still exist."""
    if conn.execute("SELECT to_regclass('eventreg_app_roles') IS NULL AS none").fetchone()["none"]:
        return []
    rows = conn.execute(
        "SELECT a.role FROM eventreg_app_roles a JOIN pg_roles r ON r.rolname = a.role ORDER BY a.role"
    ).fetchall()
    return [r["role"] for r in rows]


def unsafe_recorded_roles(conn: Any) -> dict[str, str]:
    """Recorded roles that `db grant` would refuse now (and `db migrate` skips) -> why."""
    found = {role: unsafe_reason(conn, role) for role in recorded_roles(conn)}
    return {role: reason for role, reason in found.items() if reason is not None}


def unsafe_reason(conn: Any, role: str) -> str | None:
    """Why `role` must not be the application role (completing "it ..."), or None when it may be."""
    row = conn.execute(
        "SELECT rolname IN (current_user, session_user) AS me, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s",
        (role,),
    ).fetchone()
    if row is None:
        return None
    if row["me"]:
        return "is the role this command is connected as"
    if row["rolsuper"]:
        return "is a superuser, which no grant restricts"
    if row["rolbypassrls"]:
        return "has BYPASSRLS, which row-level security does not restrict"
    return _ownership_reason(conn, role)


# For a role: the first owner (itself first) among the owners of everything in the current
# schema (the schema, its tables, views and sequences, its functions, the triggers' too) that
# the role is a MEMBER of, and one thing it owns (a table if any). MEMBER, not USAGE: a member
# without INHERIT still reaches the owner's rights by SET ROLE.
OWNER_OF_ROLE = """
WITH owned AS (
    SELECT n.nspowner AS owner, 'schema ' || n.nspname AS object, 1 AS shown
      FROM pg_namespace n WHERE n.nspname = current_schema()
    UNION ALL
    SELECT c.relowner, CASE c.relkind WHEN 'S' THEN 'sequence ' WHEN 'v' THEN 'view ' WHEN 'm' THEN 'view '
                       ELSE 'table ' END || c.relname, CASE WHEN c.relkind IN ('r', 'p') THEN 0 ELSE 2 END
      FROM pg_class c
     WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    UNION ALL
    SELECT p.proowner, 'function ' || p.proname, 3
      FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
)
SELECT o.owner::regrole::text AS owner, o.owner = r.oid AS own, count(*) AS many,
       (array_agg(o.object ORDER BY o.shown, o.object))[1] AS first
  FROM owned o, pg_roles r
 WHERE r.rolname = %s AND pg_has_role(r.oid, o.owner, 'MEMBER')
 GROUP BY o.owner, r.oid
 ORDER BY o.owner = r.oid DESC, o.owner::regrole::text
 LIMIT 1
"""


def _ownership_reason(conn: Any, role: str) -> str | None:
    """`role` owns something of the schema, or is a member of a role that does."""
    row = conn.execute(OWNER_OF_ROLE, (role,)).fetchone()
    if row is None:
        return None
    what = row["first"] + (f" and {row['many'] - 1} more" if row["many"] > 1 else "")
    if row["own"]:
        return f"owns {what}"
    return f"is a member of {row['owner']}, which owns {what}"


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
