"""SQL for registrations (the rows with status 'registered' or 'cancelled')."""

from __future__ import annotations

from typing import Any

Conn = Any


def insert_registered(conn: Conn, event_id: int, user_id: int) -> dict[str, Any]:
    # registrations_one_live_per_user (a unique index) refuses a second live row.
    return conn.execute(
        "INSERT INTO registrations (event_id, user_id, status, registered_at)"
        " VALUES (%s, %s, 'registered', now()) RETURNING id, registered_at",
        (event_id, user_id),
    ).fetchone()


def live(conn: Conn, event_id: int, user_id: int) -> dict[str, Any] | None:
    """The user's registered or waitlisted row for the event."""
    return conn.execute(
        "SELECT id, status, waitlist_rank, checked_in_at FROM registrations"
        " WHERE event_id = %s AND user_id = %s AND status IN ('registered', 'waitlisted')",
        (event_id, user_id),
    ).fetchone()


def cancel(conn: Conn, registration_id: int) -> None:
    conn.execute(
        "UPDATE registrations SET status = 'cancelled', cancelled_at = now(), waitlist_rank = NULL,"
        " checked_in_at = NULL, updated_at = now() WHERE id = %s",
        (registration_id,),
    )


def cancel_all_live(conn: Conn, event_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "UPDATE registrations SET status = 'cancelled', cancelled_at = now(), waitlist_rank = NULL,"
        " checked_in_at = NULL, updated_at = now()"
        " WHERE event_id = %s AND status IN ('registered', 'waitlisted') RETURNING user_id",
        (event_id,),
    ).fetchall()


def set_checked_in(conn: Conn, registration_id: int, present: bool) -> Any:
    row = conn.execute(
        "UPDATE registrations SET checked_in_at = CASE WHEN %s THEN now() END, updated_at = now()"
        " WHERE id = %s RETURNING checked_in_at",
        (present, registration_id),
    ).fetchone()
    return row["checked_in_at"]


def of_user(conn: Conn, user_id: int, include_past: bool) -> list[dict[str, Any]]:
    """A user's live registrations with waitlist positions computed by row_number()."""
    return conn.execute(
        """
        SELECT r.id, r.status, r.created_at, r.registered_at, r.checked_in_at,
               e.slug, e.title, e.starts_at, e.ends_at, e.location,
               CASE WHEN r.status = 'waitlisted' THEN (
                   SELECT count(*) FROM registrations w
                    WHERE w.event_id = r.event_id AND w.status = 'waitlisted'
                      AND (w.waitlist_rank, w.id) <= (r.waitlist_rank, r.id)) END AS position
          FROM registrations r JOIN events e ON e.id = r.event_id
         WHERE r.user_id = %s AND r.status IN ('registered', 'waitlisted')
           AND (%s OR e.ends_at > now())
         ORDER BY e.starts_at, e.id
        """,
        (user_id, include_past),
    ).fetchall()


def attendance(conn: Conn, event_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        """
        SELECT u.id AS user_id, u.email, u.name, r.registered_at, r.checked_in_at,
               r.checked_in_at IS NOT NULL AS present
          FROM registrations r JOIN users u ON u.id = r.user_id
         WHERE r.event_id = %s AND r.status = 'registered'
         ORDER BY u.name, u.id
        """,
        (event_id,),
    ).fetchall()


def daily_signups(conn: Conn, event_id: int) -> list[dict[str, Any]]:
    """Registrations and waitlist joins per local day, for the stats chart."""
    return conn.execute(
        """
        SELECT (created_at AT TIME ZONE current_setting('TimeZone'))::date AS day, count(*) AS signups
          FROM registrations WHERE event_id = %s
         GROUP BY 1 ORDER BY 1
        """,
        (event_id,),
    ).fetchall()
