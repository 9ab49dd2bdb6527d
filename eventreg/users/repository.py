"""SQL for `users` and `security_questions`: the only module that writes them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from eventreg.views import Question, User

Conn = Any  # a psycopg connection

USER = sql.SQL("u.id, u.email, u.name, u.role, u.is_active, u.created_at, u.updated_at")


def _one(conn: Conn, cls: type, query: Any, params: Any) -> Any:
    with conn.cursor(row_factory=class_row(cls)) as cur:
        return cur.execute(query, params).fetchone()


def insert(conn: Conn, email: str, name: str, role: str, password_hash: str | None) -> User:
    # users_email_lower_key (unique on lower(email)) refuses a second account for an address
    query = sql.SQL(
        "INSERT INTO users AS u (email, name, role, password_hash) VALUES (%s, %s, %s, %s) RETURNING {}"
    ).format(USER)
    user: User = _one(conn, User, query, (email, name, role, password_hash))
    return user


def by_id(conn: Conn, user_id: int) -> User | None:
    user: User | None = _one(conn, User, sql.SQL("SELECT {} FROM users u WHERE u.id = %s").format(USER), (user_id,))
    return user


def by_ids(conn: Conn, ids: list[int]) -> list[User]:
    with conn.cursor(row_factory=class_row(User)) as cur:
        return cur.execute(sql.SQL("SELECT {} FROM users u WHERE u.id = ANY(%s)").format(USER), (ids,)).fetchall()


def by_email(conn: Conn, email: str) -> User | None:
    """Case-insensitive, through the unique index on lower(email)."""
    query = sql.SQL("SELECT {} FROM users u WHERE lower(u.email) = lower(%s)").format(USER)
    user: User | None = _one(conn, User, query, (email,))
    return user


def with_password_hash(conn: Conn, email: str) -> tuple[User, str | None] | None:
    row = conn.execute(
        sql.SQL("SELECT {}, u.password_hash FROM users u WHERE lower(u.email) = lower(%s)").format(USER), (email,)
    ).fetchone()
    if row is None:
        return None
    password_hash = row.pop("password_hash")
    return User(**row), password_hash


def password_hash(conn: Conn, user_id: int) -> str | None:
    row = conn.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,)).fetchone()
    return row["password_hash"] if row else None


def set_password_hash(conn: Conn, user_id: int, password_hash: str) -> None:
    conn.execute(
        "UPDATE users SET password_hash = %s, updated_at = clock_timestamp() WHERE id = %s", (password_hash, user_id)
    )


def set_name(conn: Conn, user_id: int, name: str) -> User:
    query = sql.SQL("UPDATE users u SET name = %s, updated_at = clock_timestamp() WHERE u.id = %s RETURNING {}")
    user: User = _one(conn, User, query.format(USER), (name, user_id))
    return user


def set_email(conn: Conn, user_id: int, email: str) -> User:
    query = sql.SQL("UPDATE users u SET email = %s, updated_at = clock_timestamp() WHERE u.id = %s RETURNING {}")
    user: User = _one(conn, User, query.format(USER), (email, user_id))
    return user


def set_role(conn: Conn, user_id: int, role: str) -> User:
    query = sql.SQL("UPDATE users u SET role = %s, updated_at = clock_timestamp() WHERE u.id = %s RETURNING {}")
    user: User = _one(conn, User, query.format(USER), (role, user_id))
    return user


def set_active(conn: Conn, user_id: int, active: bool) -> User:
    query = sql.SQL("UPDATE users u SET is_active = %s, updated_at = clock_timestamp() WHERE u.id = %s RETURNING {}")
    user: User = _one(conn, User, query.format(USER), (active, user_id))
    return user


def lock_admin_roster(conn: Conn) -> None:
    """Serialise changes to who is an active admin, so two demotions cannot both pass the
    last-admin check (a transaction-level advisory lock, released at commit)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('eventreg:admin-roster'))")


def active_admins(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) AS n FROM users WHERE role = 'admin' AND is_active").fetchone()
    return int(row["n"])


def page_query(
    role: str | None, search: str | None, after_id: int, limit: int | None
) -> tuple[sql.Composed, dict[str, Any]]:
    """Users by id (User columns), filtered by role and by text in the name or email."""
    pattern = None if not search else "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = sql.SQL(
        """
        SELECT {columns} FROM users u
         WHERE u.id > %(after)s
           AND (%(role)s::text IS NULL OR u.role = %(role)s)
           AND (%(pattern)s::text IS NULL OR u.email ILIKE %(pattern)s OR u.name ILIKE %(pattern)s)
         ORDER BY u.id {limited}
        """
    ).format(columns=USER, limited=sql.SQL("LIMIT %(limit)s") if limit is not None else sql.SQL(""))
    return query, {"after": after_id, "role": role, "pattern": pattern, "limit": limit}


def run(conn: Conn, query: sql.Composable, params: Any) -> list[User]:
    with conn.cursor(row_factory=class_row(User)) as cur:
        return cur.execute(query, params).fetchall()


# -- security questions -------------------------------------------------------------------


def catalogue(conn: Conn) -> list[Question]:
    with conn.cursor(row_factory=class_row(Question)) as cur:
        return cur.execute("SELECT key, text FROM security_question_catalogue ORDER BY key").fetchall()


def replace_questions(conn: Conn, user_id: int, pairs: Iterable[tuple[int, str]]) -> None:
    """Set a user's questions (catalogue key, bcrypt hash of the normalised answer)."""
    conn.execute("DELETE FROM security_questions WHERE user_id = %s", (user_id,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO security_questions (user_id, question_key, answer_hash) VALUES (%s, %s, %s)",
            [(user_id, key, answer_hash) for key, answer_hash in pairs],
        )


def questions(conn: Conn, user_id: int) -> list[dict[str, Any]]:
    """The user's questions in the order they were set: key, text, answer_hash."""
    return list(
        conn.execute(
            "SELECT q.question_key AS key, c.text, q.answer_hash FROM security_questions q"
            " JOIN security_question_catalogue c ON c.key = q.question_key"
            " WHERE q.user_id = %s ORDER BY q.id",
            (user_id,),
        ).fetchall()
    )


# -- bulk import ------------------------------------------------------------------------


def copy_new_users(
    conn: Conn, rows: Iterable[tuple[str, str, str]], keep: Callable[[], bool] = lambda: True
) -> int | None:
    """COPY (email, name, role) rows straight into users, in a savepoint; returns how many.

    None, and nothing written, when the unique index refused one (an address given
    twice, or one with an account: COPY reports it at its end), or when `keep()`, asked
    once every row is in, says no. COPY writes pages of rows at a time, and the rows go
    in while the caller is still reading and checking the file."""
    count = 0
    try:
        with conn.transaction():
            with conn.cursor() as cur, cur.copy("COPY users (email, name, role) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            if not keep():
                raise _Undo
    except (_Undo, psycopg.errors.UniqueViolation):
        return None
    return count


class _Undo(Exception):
    """Roll the savepoint of `copy_new_users` back."""


def load_import(conn: Conn, rows: Iterable[tuple[int, str, str, str]]) -> int:
    """Stream (line, email, name, role) rows through COPY into a temporary table; returns how many."""
    conn.execute("CREATE TEMP TABLE user_import (line int, email text, name text, role text) ON COMMIT DROP")
    count = 0
    with conn.cursor() as cur, cur.copy("COPY user_import (line, email, name, role) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def import_duplicates(conn: Conn) -> list[tuple[int, str, int]]:
    """(line, email, first line) of each address the file gives more than once."""
    rows = conn.execute(
        "SELECT line, email, min(line) OVER (PARTITION BY lower(email)) AS first FROM user_import"
        " WHERE lower(email) IN (SELECT lower(email) FROM user_import GROUP BY 1 HAVING count(*) > 1)"
        " ORDER BY line"
    ).fetchall()
    return [(r["line"], r["email"], r["first"]) for r in rows if r["line"] != r["first"]]


def insert_imported(conn: Conn) -> tuple[int, list[tuple[int, str]]]:
    """Insert the loaded rows whose address has no account yet; returns how many were
    created and the (line, email) of those skipped.

    The rows whose address has an account are taken out of the load first (they are the
    ones reported), and the rest go in with a plain INSERT: INSERT ... ON CONFLICT costs
    half as much again (each row is inserted speculatively, then confirmed), 0.45 s of
    100,000 rows. Should someone else take one of the addresses meanwhile, the plain
    INSERT fails on the unique index and is rolled back to its savepoint, and the rows go
    in with ON CONFLICT DO NOTHING, the addresses taken meanwhile reported as skipped."""
    skipped = [
        (r["line"], r["email"])
        for r in conn.execute(
            "DELETE FROM user_import i WHERE EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(i.email))"
            " RETURNING i.line, i.email"
        ).fetchall()
    ]
    try:
        with conn.transaction():
            created = conn.execute(
                "INSERT INTO users (email, name, role) SELECT email, name, role FROM user_import ORDER BY line"
            ).rowcount
    except psycopg.errors.UniqueViolation:
        row = conn.execute(
            "WITH made AS (INSERT INTO users (email, name, role)"
            "              SELECT email, name, role FROM user_import ORDER BY line"
            "              ON CONFLICT DO NOTHING RETURNING lower(email) AS address)"
            " SELECT (SELECT count(*) FROM made) AS created,"
            "        (SELECT coalesce(json_agg(json_build_array(i.line, i.email)), '[]') FROM user_import i"
            "          WHERE NOT EXISTS (SELECT 1 FROM made m WHERE m.address = lower(i.email))) AS taken"
        ).fetchone()
        created = row["created"]
        skipped += [(line, email) for line, email in row["taken"]]
    return int(created), sorted(skipped)
