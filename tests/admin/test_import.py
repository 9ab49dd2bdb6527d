"""The import's last step: accounts that exist are skipped, also when one appears while it runs."""

from __future__ import annotations

from typing import Any

from eventreg.db.connection import connect
from eventreg.users import repository as users_repo


class SomeoneSignsUpMeanwhile:
    """A connection that, right after the import has set aside the addresses with an
    account, lets another session sign up one of the others (committed at once)."""

    def __init__(self, conn: Any, url: str, email: str) -> None:
        self.conn, self.url, self.email = conn, url, email

    def execute(self, query: Any, *args: Any) -> Any:
        result = self.conn.execute(query, *args)
        if str(query).startswith("DELETE FROM user_import"):
            with connect(self.url, autocommit=True) as other:
                other.execute("INSERT INTO users (email, name) VALUES (%s, 'Quick')", (self.email,))
        return result

    def transaction(self) -> Any:
        return self.conn.transaction()


def load(conn: Any, emails: list[str]) -> None:
    users_repo.load_import(conn, ((n + 2, e, f"Person {n}", "student") for n, e in enumerate(emails)))


def test_existing_accounts_are_skipped_and_the_rest_created_in_file_order(db, conn):
    emails = ["a@example.edu", "STUDENT@example.edu", "b@example.edu", "c@example.edu"]
    with connect(db) as importing:
        load(importing, emails)
        created, skipped = users_repo.insert_imported(importing)
        importing.commit()
    assert (created, skipped) == (3, [(3, "STUDENT@example.edu")])
    made = conn.execute("SELECT email FROM users WHERE email LIKE '_@example.edu' ORDER BY id").fetchall()
    assert [r["email"] for r in made] == ["a@example.edu", "b@example.edu", "c@example.edu"]


def test_an_address_taken_while_the_import_runs_is_skipped_not_an_error(db, conn):
    emails = ["a@example.edu", "student@example.edu", "b@example.edu", "c@example.edu"]
    with connect(db) as importing:
        load(importing, emails)
        created, skipped = users_repo.insert_imported(SomeoneSignsUpMeanwhile(importing, db, "B@example.edu"))
        importing.commit()
    assert (created, skipped) == (2, [(3, "student@example.edu"), (4, "b@example.edu")])
    names = {r["email"]: r["name"] for r in conn.execute("SELECT email, name FROM users WHERE email ILIKE '_@%'")}
    assert names == {"a@example.edu": "Person 0", "B@example.edu": "Quick", "c@example.edu": "Person 3"}


def test_new_people_go_straight_in_in_file_order_with_their_names_exact(cli, conn, tmp_path):
    names = ['Ana "Quoted" Ruiz', "Back\\slash \\. Person", "Comma, Person", "Zoë 中文"]
    rows = "".join(f'new{n}@example.edu,"{name.replace(chr(34), chr(34) * 2)}",\n' for n, name in enumerate(names))
    (tmp_path / "new.csv").write_text("email,name,role\n" + rows)
    result = cli.as_role("admin")("user", "import", str(tmp_path / "new.csv"))
    assert result.exit_code == 0 and "Imported 4 user(s); skipped 0." in result.stderr, result.output
    made = conn.execute("SELECT email, name, role FROM users WHERE email LIKE 'new%' ORDER BY id").fetchall()
    assert [(r["email"], r["name"], r["role"]) for r in made] == [
        (f"new{n}@example.edu", name, "student") for n, name in enumerate(names)
    ]
    audit = conn.execute("SELECT details FROM audit_log WHERE action = 'users.imported'").fetchone()
    assert audit["details"] == {"rows": 4, "created": 4, "skipped": 0}


def test_the_careful_path_keeps_names_exact_and_counts_what_it_loaded(cli, conn, tmp_path):
    """An existing account sends the import down the careful path, through the temporary file."""
    names = ['Ana "Quoted" Ruiz', "Back\\slash \\. Person", "Comma, Person"]
    rows = "".join(f'old{n}@example.edu,"{name.replace(chr(34), chr(34) * 2)}"\n' for n, name in enumerate(names))
    (tmp_path / "mixed.csv").write_text("email,name\n" + rows + "Student@Example.edu,Again\n")
    result = cli.as_role("admin")("user", "import", str(tmp_path / "mixed.csv"))
    assert result.exit_code == 0 and "Imported 3 user(s); skipped 1." in result.stderr, result.output
    assert "line 5: skipped Student@Example.edu" in result.stderr
    made = conn.execute("SELECT name FROM users WHERE email LIKE 'old%' ORDER BY id").fetchall()
    assert [r["name"] for r in made] == names
    audit = conn.execute("SELECT details FROM audit_log WHERE action = 'users.imported'").fetchone()
    assert audit["details"] == {"rows": 4, "created": 3, "skipped": 1}


def test_a_file_that_breaks_midway_leaves_nothing_behind(cli, conn, tmp_path):
    before = conn.execute("SELECT count(*) AS n FROM users").fetchone()["n"]
    admin = cli.as_role("admin")
    endless = 'open@example.edu,"never closed' + ("a" * 4000 + "\n") * 40  # a field over csv's limit
    (tmp_path / "endless.csv").write_text("email,name\nfine@example.edu,Fine\n" + endless)
    broken = admin("user", "import", str(tmp_path / "endless.csv"))
    assert broken.exit_code == 2 and "not valid CSV" in broken.stderr, broken.output
    (tmp_path / "header.csv").write_text("mail,name\nx@example.edu,X\n")
    assert admin("user", "import", str(tmp_path / "header.csv")).exit_code == 2
    (tmp_path / "bad.csv").write_text("email,name\nfine@example.edu,Fine\nbroken,Bad\nfine@example.edu,Again\n")
    refused = admin("user", "import", str(tmp_path / "bad.csv"))
    assert refused.exit_code == 2 and "line 3:" in refused.stderr and "is also on line 2" in refused.stderr
    assert conn.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == before
    assert admin("user", "show").exit_code == 0  # the session still works: nothing was left half done
