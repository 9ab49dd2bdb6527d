"""How every list command runs: one page, or every page streamed, in any format.

A page is fetched with a keyset cursor, printed, and followed by the cursor of the
next page on stderr. `--all` walks the pages in batches so memory stays flat;
`--all --csv` asks for the database's own CSV (COPY), which is many times faster
than formatting rows in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from eventreg.cli.context import Invocation
from eventreg.cli.options import ListOptions
from eventreg.cli.output import Column
from eventreg.paging import EXPORT_BATCH
from eventreg.views import Page

PageFetch = Callable[[str | None, int], Page[Any]]


def every_page(fetch: PageFetch, first: str | None = None) -> Iterator[Any]:
    after = first
    while True:
        page = fetch(after, EXPORT_BATCH)
        yield from page.items
        if page.next is None:
            return
        after = page.next


def show(
    inv: Invocation,
    out: ListOptions,
    fetch: PageFetch,
    export: Callable[[], Iterable[bytes]],
    view: type,
    columns: Sequence[Column],
    title: str | None = None,
    empty: str = "Nothing to show.",
) -> None:
    if out.everything and out.fmt == "csv":
        inv.out.raw(export(), to=out.output)
        return
    if out.everything:
        inv.out.rows(every_page(fetch), columns, view, fmt=out.fmt, to=out.output, title=title, empty=empty)
        return
    page = fetch(out.after, out.limit)
    inv.out.rows(page.items, columns, view, fmt=out.fmt, to=out.output, title=title, empty=empty)
    if page.next:
        inv.out.message(f"More: --after {page.next} (or --all for everything)")
