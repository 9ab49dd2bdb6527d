"""SQL for the admin views: users and every registration."""

from __future__ import annotations

from typing import Any

Conn = Any


def list_users(conn: Conn, role: str | None, search: str | None, limit: int) -> list[dict[str, Any]]:
    pattern = None if not search else "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return conn.execute(
        """
        SELECT id, email, name, role, is_active, locked_until, created_at, updated_at
          FROM users
         WHERE (%(role)s::text IS NULL OR role = %(role)s)
           AND (%(pattern)s::text IS NULL OR email ILIKE %(pattern)s OR name ILIKE %(pattern)s)
         ORDER BY id
         LIMIT %(limit)s
        """,
        {"role": role, "pattern": pattern, "limit": limit},
    ).fetchall()


def set_role(conn: Conn, user_id: int, role: str) -> None:
    conn.execute("UPDATE users SET role = %s, updated_at = now() WHERE id = %s", (role, user_id))


def set_active(conn: Conn, user_id: int, active: bool) -> None:
    conn.execute("UPDATE users SET is_active = %s, updated_at = now() WHERE id = %s", (active, user_id))


def count_admins(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) AS n FROM users WHERE role = 'admin' AND is_active").fetchone()
    return int(row["n"])


def registrations_page(
    conn: Conn,
    event_id: int | None,
    user_id: int | None,
    status: str | None,
    after: int,
    limit: int | None,
) -> list[dict[str, Any]]:
    """Keyset pagination on registrations.id: a page starts after the last id seen,
    so rows that arrive meanwhile never shift a page (nothing skipped or repeated)."""
    return conn.execute(
        """
        SELECT r.id, e.slug AS event, e.title, u.email, u.name,
               CASE WHEN r.status = 'registered' AND r.checked_in_at IS NOT NULL THEN 'attended'
                    ELSE r.status END AS status,
               r.created_at, r.registered_at, r.cancelled_at, r.checked_in_at
          FROM registrations r
          JOIN events e ON e.id = r.event_id
          JOIN users u ON u.id = r.user_id
         WHERE r.id > %(after)s
           AND (%(event)s::bigint IS NULL OR r.event_id = %(event)s)
           AND (%(user)s::bigint IS NULL OR r.user_id = %(user)s)
           AND (%(status)s::text IS NULL
                OR (%(status)s = 'attended' AND r.status = 'registered' AND r.checked_in_at IS NOT NULL)
                OR (%(status)s = 'registered' AND r.status = 'registered' AND r.checked_in_at IS NULL)
                OR (%(status)s IN ('waitlisted', 'cancelled') AND r.status = %(status)s))
         ORDER BY r.id
         LIMIT %(limit)s
        """,
        {"after": after, "event": event_id, "user": user_id, "status": status, "limit": limit},
    ).fetchall()
