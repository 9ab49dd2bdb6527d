"""Least privilege: what an application role needs for the everyday commands.

Migrations, seeds and `db` tooling run as the owner of the schema. Everything else
(sign-up, login, events, registration, waitlist, admin) can run as a role that
holds only these grants: it cannot change the schema, rewrite history or delete
events, users or the audit log.
"""

from __future__ import annotations

from typing import Any

# table -> privileges the everyday commands use (and no more)
APP_GRANTS: dict[str, tuple[str, ...]] = {
    "users": ("SELECT", "INSERT", "UPDATE"),
    "security_questions": ("SELECT", "INSERT", "DELETE"),  # replacing questions deletes the old ones
    "sessions": ("SELECT", "INSERT", "UPDATE"),
    "auth_failures": ("SELECT", "INSERT", "DELETE"),  # a successful login clears them
    "password_resets": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # a code is deleted once used
    "events": ("SELECT", "INSERT", "UPDATE"),
    "registrations": ("SELECT", "INSERT", "UPDATE"),  # a cancellation is an UPDATE, never a DELETE
    "audit_log": ("SELECT", "INSERT"),
    "schema_migrations": ("SELECT",),
}
APP_SEQUENCES = ("waitlist_rank_seq",)


def grant_app_role(conn: Any, role: str) -> list[str]:
    """Grant the application privileges to an existing role; returns what was granted."""
    from psycopg import sql

    done = []
    with conn.transaction():
        database = conn.execute("SELECT current_database() AS db").fetchone()["db"]
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(role)
            )
        )
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        for table, privileges in APP_GRANTS.items():
            conn.execute(
                sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                    sql.SQL(", ").join(sql.SQL(p) for p in privileges), sql.Identifier(table), sql.Identifier(role)
                )
            )
            done.append(f"{', '.join(privileges)} on {table}")
        for sequence in APP_SEQUENCES:
            conn.execute(
                sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.Identifier(sequence), sql.Identifier(role))
            )
            done.append(f"USAGE on {sequence}")
    return done
