"""SQL for users and their security questions."""

from __future__ import annotations

from typing import Any

from psycopg import sql

Conn = Any  # a psycopg connection returning dict rows

# What a user row shows: never the password hash, except where a query asks for it.
USER_COLUMNS = sql.SQL("id, email, name, role, is_active, locked_until, created_at, updated_at")


def insert_user(conn: Conn, email: str, name: str, role: str, password_hash: str | None) -> dict[str, Any]:
    query = sql.SQL("INSERT INTO users (email, name, role, password_hash) VALUES (%s, %s, %s, %s) RETURNING {}").format(
        USER_COLUMNS
    )
    return conn.execute(query, (email, name, role, password_hash)).fetchone()


def by_id(conn: Conn, user_id: int) -> dict[str, Any] | None:
    query = sql.SQL("SELECT {} FROM users WHERE id = %s").format(USER_COLUMNS)
    return conn.execute(query, (user_id,)).fetchone()


def by_email(conn: Conn, email: str) -> dict[str, Any] | None:
    """Case-insensitive, served by the unique index on lower(email)."""
    query = sql.SQL("SELECT {}, password_hash FROM users WHERE lower(email) = lower(%s)").format(USER_COLUMNS)
    return conn.execute(query, (email,)).fetchone()


def update_name(conn: Conn, user_id: int, name: str) -> dict[str, Any]:
    query = sql.SQL("UPDATE users SET name = %s, updated_at = now() WHERE id = %s RETURNING {}").format(USER_COLUMNS)
    return conn.execute(query, (name, user_id)).fetchone()


def set_password_hash(conn: Conn, user_id: int, password_hash: str | None) -> None:
    conn.execute(
        "UPDATE users SET password_hash = %s, locked_until = NULL, updated_at = now() WHERE id = %s",
        (password_hash, user_id),
    )


def password_hash(conn: Conn, user_id: int) -> str | None:
    row = conn.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,)).fetchone()
    return row["password_hash"] if row else None


def replace_questions(conn: Conn, user_id: int, pairs: list[tuple[str, str]]) -> None:
    conn.execute("DELETE FROM security_questions WHERE user_id = %s", (user_id,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO security_questions (user_id, question, answer_hash) VALUES (%s, %s, %s)",
            [(user_id, question, answer_hash) for question, answer_hash in pairs],
        )


def questions(conn: Conn, user_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, question, answer_hash FROM security_questions WHERE user_id = %s ORDER BY id",
        (user_id,),
    ).fetchall()


def admin_exists(conn: Conn) -> bool:
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin') AS yes").fetchone()
    return bool(row["yes"])
