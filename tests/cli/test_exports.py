"""Every list writes the same CSV a page at a time (Python) and all at once (PostgreSQL's COPY)."""

from __future__ import annotations

from eventreg.registration import service as registration
from eventreg.waitlist import service as waitlist
from tests.conftest import Cli
from tests.support import insert_users, published_event, work

LISTS = [
    ("student", ["event", "list"]),
    ("student", ["register", "list"]),
    ("staff", ["waitlist", "list", "{slug}"]),
    ("staff", ["event", "attendance", "{slug}"]),
    ("staff", ["event", "history", "{slug}"]),
    ("admin", ["admin", "users", "list"]),
    ("admin", ["admin", "registrations"]),
]


def test_every_list_gives_the_same_csv_by_the_page_and_all_at_once(db, cli: Cli, conn, people):
    staff = people["staff"]
    event = published_event(db, capacity=2, title="Tricky", organiser=staff)
    others = insert_users(conn, 4)
    # text as another tool (or an older eventreg) may have written it: no input rule applied
    conn.execute("UPDATE events SET title = %s WHERE id = %s", ("=Tricky \u202e title", event.id))
    conn.execute("UPDATE users SET name = %s WHERE id = %s", ("-Minus \x85 Name", others[0].id))
    for person in [*others, people["student"]]:  # two seats, three waiting
        with work(db) as uow:
            registration.register(uow, person, event.slug)
    with work(db) as uow:
        registration.cancel(uow, staff, event.slug, others[1].email, "@reason")  # the head is promoted
    with work(db) as uow:
        registration.checkin(uow, staff, event.slug, others[0].email)
    with work(db) as uow:
        waitlist.move(uow, staff, event.slug, people["student"].email, 1, "+front")  # details: {"to": 1}
    # times whose fraction ends in zeros (.250000), which COPY and Python once wrote apart
    conn.execute("UPDATE registrations SET created_at = date_trunc('second', created_at) + interval '0.25 s'")
    conn.execute("UPDATE audit_log SET at = date_trunc('second', at) + interval '0.5 s'")
    conn.execute("UPDATE audit_log SET reason = reason || %s WHERE reason IS NOT NULL", ("\x1b[2J \u2066",))
    conn.execute("UPDATE audit_log SET details = details || %s WHERE action = 'moved'", ('{"note": "=1 \u202e"}',))
    for role, args in LISTS:
        command = [a.format(slug=event.slug) for a in args]
        cli.as_role(role)
        page = cli(*command, "--csv", "--limit", "1000")
        whole = cli(*command, "--csv", "--all")
        assert page.exit_code == 0 and whole.exit_code == 0, (command, page.output, whole.output)
        assert page.stdout.count("\n") > 1, (command, page.stdout)  # a header and rows
        assert page.stdout == whole.stdout, command
