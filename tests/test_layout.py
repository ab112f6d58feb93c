"""The rooms' doors open one way (DEVELOPING.md): no room imports one above it, and no cycle.

Read from the source with `ast`, so a deferred import inside a function counts as well.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each room and the rooms it may import (besides itself and third-party packages).
MAY_IMPORT: dict[str, set[str]] = {
    "config": set(),
    "storage": {"config"},
    "ocr": {"config"},
    "intake": {"config", "storage"},
    "postal": {"config", "storage", "ocr"},
    "letters": {"config", "storage", "ocr", "postal", "intake"},
    "flows": {"config", "storage", "ocr", "postal", "intake", "letters"},
    "review_ui": {"config", "storage", "ocr", "postal", "intake", "letters"},
    "letterbridge": {"config", "storage", "ocr", "postal", "intake", "letters", "flows",
                     "review_ui"},
}
PREFECT_FREE = {"config", "storage", "ocr", "intake", "postal", "letters", "review_ui"}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def _modules(room: str) -> list[Path]:
    return sorted(p for p in (ROOT / room).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("room", sorted(MAY_IMPORT))
def test_a_room_imports_only_the_rooms_below_it(room: str) -> None:
    """GIVEN every module of a room WHEN its imports are read THEN each names only the room
    itself, the rooms below it, or a package from outside the project."""
    wrong = []
    for path in _modules(room):
        for name, line in _imports(path):
            top = name.split(".")[0]
            if top in MAY_IMPORT and top != room and top not in MAY_IMPORT[room]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert wrong == []


# The admin dashboard lists failed flow runs through Prefect's own client, importing it on the
# first dashboard view only (1.5 s): the one place outside flows/ that may.
PREFECT_CLIENT_ONLY = {ROOT / "review_ui" / "prefect_status.py"}


@pytest.mark.parametrize("room", sorted(PREFECT_FREE))
def test_only_flows_and_the_cli_know_prefect(room: str) -> None:
    wrong = [f"{p.relative_to(ROOT)}:{line}" for p in _modules(room)
             if p not in PREFECT_CLIENT_ONLY
             for name, line in _imports(p) if name.split(".")[0] == "prefect"]
    assert wrong == []


def test_every_flows_module_is_prefect_wiring() -> None:
    """GIVEN flows/ WHEN its modules are read THEN each imports Prefect, or only runs Prefect's
    own processes (runtime.py: its server; pool_worker.py: its worker) — the logic lives in
    letters/ and intake/."""
    prefect_processes = {"__init__.py", "runtime.py", "pool_worker.py"}
    bare = [p.name for p in _modules("flows") if p.name not in prefect_processes
            and not any(n.split(".")[0] == "prefect" for n, _ in _imports(p))]
    assert bare == []


def test_no_import_cycle_between_modules() -> None:
    """GIVEN the project's modules and their top-level imports WHEN followed THEN no module
    reaches itself again."""
    paths = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for room in MAY_IMPORT for p in _modules(room)}
    modules = set(paths)
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text())
        deps = set()
        for node in tree.body:  # top level: what runs when the module is imported
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from package import submodule` needs the submodule, not the package's
                # __init__ (which may be the one importing us).
                subs = {f"{node.module}.{a.name}" for a in node.names}
                deps |= subs if subs <= modules else {node.module} | (subs & modules)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[module] = deps
    known = set(graph)
    graph = {m: {d for d in deps if d in known and d != m} for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*trail[trail.index(dep):], dep]))
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("modules", [
    "review_ui.app, review_ui.routes.mailroom, letters.mailroom, postal.replies",
    "letters.release, letters.redaction, letters.intake, intake.hot_folder, intake.s3",
])
def test_rooms_below_flows_load_without_prefect(modules: str) -> None:
    """GIVEN a fresh interpreter WHEN the web app and the letter rooms are imported
    THEN Prefect is not loaded (the app hands work to `letterbridge ingest` instead)."""
    code = f"import sys, {modules}; sys.exit('prefect' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
