"""Which rows each seed inserted, by primary key, and what depends on them.

While a seed file runs, the keys of every table it declares (`-- table:` and
`-- also:`) are compared before and after, inside the batch's repeatable-read
transaction, so rows that other sessions commit meanwhile are never counted. The
new keys go to `seed_rows`. Undo deletes exactly those rows; before it does, it
finds every row outside the seeds that references them through a foreign key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

DDL = """
CREATE TABLE IF NOT EXISTS seed_rows (
    seed       text NOT NULL REFERENCES seed_history (name) ON DELETE CASCADE,
    position   integer NOT NULL,  -- the table's place in the file's header
    table_name text NOT NULL,
    table_oid  oid NOT NULL,      -- the table as it was: a rollback that drops it voids these rows
    key        jsonb NOT NULL,    -- the row's primary key, {"column": value}
    PRIMARY KEY (seed, table_name, key)
)
"""
BLOCKING = "blocking the delete"
EMAIL_OF = "SELECT email AS v FROM users WHERE id = %s"
SLUG_OF = "SELECT slug AS v FROM events WHERE id = %s"
ON_DELETE = {"c": "deleted with it", "n": "unlinked (set to NULL)", "d": "unlinked (set to its default)"}


@dataclass(frozen=True)
class Table:
    oid: int
    schema: str
    name: str
    key: tuple[str, ...]  # primary key columns; empty when the table has none

    @property
    def ident(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.name)

    def key_json(self, alias: str) -> sql.Composable:
        """`jsonb_build_object('id', t.id)` for this table's key."""
        pairs = [sql.SQL("{}, {}").format(sql.Literal(c), sql.Identifier(alias, c)) for c in self.key]
        return sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(pairs))

    def key_columns(self, alias: str) -> sql.Composable:
        return sql.SQL("({})").format(sql.SQL(", ").join(sql.Identifier(alias, c) for c in self.key))

    def recorded(self, seeds_param: str = "seeds") -> sql.Composable:
        """Key tuples of this table's rows recorded for the seeds in %(seeds)s."""
        return sql.SQL(
            "(SELECT {cols} FROM seed_rows s, jsonb_populate_record(NULL::{t}, s.key) r"
            " WHERE s.seed = ANY(%({p})s) AND s.table_oid = {oid})"
        ).format(
            cols=sql.SQL(", ").join(sql.Identifier("r", c) for c in self.key),
            t=self.ident,
            p=sql.SQL(seeds_param),
            oid=sql.Literal(self.oid),
        )


@dataclass(frozen=True)
class Dependent:
    table: str
    row: str  # the row in words
    action: str  # what deleting the seed row would do to it
    seed: str | None  # the seed that inserted it, if another seed did


def table(conn: Any, name: str) -> Table | None:
    row = conn.execute(
        """
        SELECT c.oid, n.nspname, c.relname,
               ARRAY(SELECT a.attname
                       FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(num, ord)
                       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
                      WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.ord) AS key
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = to_regclass(%s)
        """,
        (name,),
    ).fetchone()
    if row is None:
        return None
    return Table(int(row["oid"]), row["nspname"], row["relname"], tuple(row["key"]))


def table_by_oid(conn: Any, oid: int) -> Table | None:
    name = conn.execute("SELECT %s::oid::regclass::text AS name", (oid,)).fetchone()["name"]
    return table(conn, name) if name and not name.isdigit() else None


def snapshot(conn: Any, target: Table, slot: int) -> sql.Composable:
    """Keep the current keys of a table in a temporary table; returns its name."""
    temp = sql.Identifier(f"seed_before_{slot}")
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} AS key FROM {} t").format(
            temp, target.key_json("t"), target.ident
        )
    )
    return temp


def record_new(conn: Any, seed: str, position: int, target: Table, before: sql.Composable) -> int:
    """Record the keys that appeared since the snapshot; returns how many."""
    query = sql.SQL(
        "INSERT INTO seed_rows (seed, position, table_name, table_oid, key)"
        " SELECT %s, %s, %s, %s, k.key FROM (SELECT {} AS key FROM {} t EXCEPT SELECT key FROM {}) k"
    ).format(target.key_json("t"), target.ident, before)
    return int(conn.execute(query, (seed, position, target.name, target.oid)).rowcount)


def recorded_tables(conn: Any, seeds: list[str]) -> list[tuple[str, Table]]:
    """(seed, table) pairs of these seeds in the order to delete: newest seed first, last table first.
    Tables a rollback has dropped since are left out."""
    rows = conn.execute(
        "SELECT DISTINCT seed, position, table_oid FROM seed_rows WHERE seed = ANY(%s)"
        " ORDER BY seed DESC, position DESC",
        (seeds,),
    ).fetchall()
    found = []
    for row in rows:
        target = table_by_oid(conn, row["table_oid"])
        if target is not None:
            found.append((row["seed"], target))
    return found


def lock(conn: Any, target: Table, seeds: list[str]) -> None:
    """Lock the seed rows, so no new reference to them can appear until this transaction ends."""
    conn.execute(
        sql.SQL("SELECT 1 FROM {} t WHERE {} IN {} FOR UPDATE").format(
            target.ident, target.key_columns("t"), target.recorded()
        ),
        {"seeds": seeds},
    )


def delete(conn: Any, target: Table, seed: str) -> int:
    query = sql.SQL("DELETE FROM {} t WHERE {} IN {}").format(target.ident, target.key_columns("t"), target.recorded())
    return int(conn.execute(query, {"seeds": [seed]}).rowcount)


@dataclass
class Dependents:
    """Rows that reference the rows of the seeds being undone, counted once each."""

    count: int = 0  # rows made outside the seeds
    seeds: dict[str, int] = field(default_factory=dict)  # other seed -> how many of its rows depend
    blocking: int = 0  # rows made outside the seeds whose foreign key refuses the delete
    samples: list[Dependent] = field(default_factory=list)  # the first few made outside the seeds, in words


def dependents(conn: Any, parents: list[Table], seeds: list[str], limit: int = 20) -> Dependents:
    oids = [p.oid for p in parents]
    fks = conn.execute(
        """
        SELECT c.conrelid AS child, c.confrelid AS parent, c.confdeltype AS action,
               ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(num, ord)
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.ord) AS cols,
               ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(num, ord)
                       JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.ord) AS refs
          FROM pg_constraint c
         WHERE c.contype = 'f' AND c.confrelid = ANY(%s)
         ORDER BY c.conrelid::regclass::text, c.confdeltype, c.conname
        """,
        (oids,),
    ).fetchall()
    by_oid = {p.oid: p for p in parents}
    found = Dependents()
    seen: set[tuple[int, str]] = set()
    for fk in fks:
        child = table_by_oid(conn, fk["child"])
        if child is None:
            continue
        action = ON_DELETE.get(fk["action"], BLOCKING)
        for row in _referencing(conn, child, by_oid[fk["parent"]], fk["cols"], fk["refs"], seeds):
            if (child.oid, row["key"]) in seen:
                continue  # a row that references seed rows through two foreign keys counts once
            seen.add((child.oid, row["key"]))
            if row["seed"]:
                found.seeds[row["seed"]] = found.seeds.get(row["seed"], 0) + 1
                continue
            found.count += 1
            found.blocking += action == BLOCKING
            if len(found.samples) < limit:
                found.samples.append(Dependent(child.name, describe(conn, child.name, row["row"]), action, None))
    return found


def _referencing(
    conn: Any, child: Table, parent: Table, cols: list[str], refs: list[str], seeds: list[str]
) -> list[dict[str, Any]]:
    own: sql.Composable = sql.SQL("TRUE")
    if child.key:
        own = sql.SQL("{} NOT IN {}").format(child.key_columns("c"), child.recorded())
    key = child.key_json("c") if child.key else sql.SQL("to_jsonb(c)")
    query = sql.SQL(
        "SELECT to_jsonb(c) AS row, {key}::text AS key, (SELECT min(o.seed) FROM seed_rows o"
        " WHERE o.table_oid = %(child)s AND o.key = {key}) AS seed"
        " FROM {child} c"
        " WHERE ({cols}) IN (SELECT {refs} FROM {parent} p WHERE {pkey} IN {precorded}) AND {own}"
    ).format(
        key=key,
        child=child.ident,
        cols=sql.SQL(", ").join(sql.Identifier("c", c) for c in cols),
        refs=sql.SQL(", ").join(sql.Identifier("p", c) for c in refs),
        parent=parent.ident,
        pkey=parent.key_columns("p"),
        precorded=parent.recorded(),
        own=own,
    )
    return list(conn.execute(query, {"seeds": seeds, "child": child.oid}).fetchall())


def describe(conn: Any, table_name: str, row: dict[str, Any]) -> str:
    """A row in words: a person by email, an event by slug, a registration as who, what and where."""
    if table_name == "users" and "email" in row:
        return str(row["email"])
    if table_name == "events" and "slug" in row:
        return str(row["slug"])
    parts = []
    if row.get("user_id") is not None:
        parts.append(_lookup(conn, EMAIL_OF, row["user_id"]))
    if row.get("status"):
        parts.append(str(row["status"]))
    if row.get("event_id") is not None:
        parts.append(f"on {_lookup(conn, SLUG_OF, row['event_id'])}")
    if row.get("action"):
        parts.append(str(row["action"]))
    label = " ".join(parts)
    ident = f"id {row['id']}" if "id" in row else ""
    return f"{ident} ({label})" if ident and label else ident or label or str(row)[:80]


def _lookup(conn: Any, query: str, value: Any) -> str:
    row = conn.execute(query, (value,)).fetchone()
    return str(row["v"]) if row else f"#{value}"
