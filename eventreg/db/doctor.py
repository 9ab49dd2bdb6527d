"""`db doctor`: read-only checks of the invariants the registration rules promise.

Most are also held by constraints; the doctor checks them anyway, so a database
that was edited by hand, restored from elsewhere or migrated oddly is caught.
"""

from __future__ import annotations

from typing import Any

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
]


def run_checks(conn: Any) -> list[dict[str, Any]]:
    """Each check with its violations, in one read-only transaction (one snapshot)."""
    results = []
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for name, rule, query in CHECKS:
            rows = conn.execute(query).fetchall()
            results.append({"check": name, "rule": rule, "ok": not rows, "violations": [row["detail"] for row in rows]})
    return results
