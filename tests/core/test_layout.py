"""The package's shape: layered imports with no cycle, a small root, public paths kept.

The import graph is read from the source (every ``import``, at module level, in functions and
under ``TYPE_CHECKING`` alike), so a cycle hidden behind a lazy or type-only import counts too.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "verk_compat"
STAGES = (
    "codec",
    "client",
    "worker",
    "api",
    "migrate",
    "cli",
    "devtools",
    "web",
    "metrics",
    "tracing",
)
# Which stage may import which: the shared root is below everything, cli on top.
ALLOWED = {
    "root": set(),
    "codec": {"root"},
    "client": {"root", "codec"},
    "worker": {"root", "codec"},
    "api": {"root", "codec"},
    "migrate": {"root", "codec"},
    "devtools": {"root", "codec", "client", "worker"},
    # The optional extras: the dashboard reads through the API; metrics and traces hook into
    # the worker (events, middleware); the CLI wires them together.
    "web": {"root", "codec", "api"},
    "metrics": {"root", "codec", "worker", "api"},
    "tracing": {"root", "codec", "worker"},
    "cli": {"root", "codec", "client", "worker", "api", "migrate", "devtools", "web", "metrics"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The package modules ``path`` imports (a ``from pkg import name`` of a submodule counts)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in known:
                found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names} & known
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    edges = {name: imports_of(path, known) - {name} for name, path in mods.items()}
    # A package's __init__ re-exports its modules; importing a module runs its package's
    # __init__ too, but that is not an edge of the module's own.
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def stage(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] in STAGES else "root"


def test_no_import_cycle() -> None:
    assert find_cycle(graph()) is None


def test_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_stages_import_only_downwards() -> None:
    wrong = sorted(
        f"{src} -> {dst}"
        for src, dsts in graph().items()
        for dst in dsts
        if stage(dst) != stage(src)
        and stage(dst) not in ALLOWED[stage(src)]
        # The root facade and the app.py public path re-export the stages by design.
        and src not in ("verk_compat", "verk_compat.app", "verk_compat.__main__")
    )
    assert wrong == []


def test_root_is_small() -> None:
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert len(root) <= 8, root
    assert set(STAGES) <= set(packages)


def test_public_import_paths() -> None:
    """Every import path the README shows."""
    for module, names in {
        "verk_compat": ("Client", "AsyncClient", "App", "Worker", "Job", "InvalidJob"),
        "verk_compat.app": ("App",),
        "verk_compat.api": ("Stats", "Queue", "RetrySet", "DeadSet", "ProcessSet"),
        "verk_compat.client": ("Client", "AsyncClient"),
        "verk_compat.codec": ("Job", "InvalidJob"),
        "verk_compat.worker": ("Worker", "App"),
    }.items():
        loaded = importlib.import_module(module)
        assert all(hasattr(loaded, name) for name in names), module
