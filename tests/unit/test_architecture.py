"""docs/architecture.md's claims about imports, checked on the source: the layers, what nothing imports,
and the edges between features (the doc's list is the whole list, and every edge in it exists)."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "functions" / "landing"
DOC = ROOT / "docs" / "architecture.md"

# Each top-level part of the package (a folder or a module) and its layer: a part imports only parts of
# lower layers, the base may import the base, and features import each other only along the doc's edges.
LAYERS = {
    "settings": 0,
    "errors": 0,
    "observability": 0,
    "coldstart": 0,
    "lambda_context": 0,
    "db": 1,
    "s3": 1,
    "ingest": 2,
    "uploads": 2,
    "reconcile": 2,
    "outbox": 2,
    "custom_resource": 2,
    "handlers": 3,
    "client": 4,
    "cli": 4,
    "__main__": 4,
}
FEATURES = {part for part, layer in LAYERS.items() if layer == 2}


def _part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported(node: ast.AST) -> list[str]:
    """The dotted names an import statement loads (landing.x.y, or landing_local...)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        if node.module == "landing":
            return [f"landing.{alias.name}" for alias in node.names]
        return [node.module]
    return []


@cache
def imports() -> dict[Path, list[tuple[str, bool]]]:
    """Every module of the package (migrations aside) -> (imported name, imported at load time)."""
    found: dict[Path, list[tuple[str, bool]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lazy = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for inner in ast.walk(node)
        }
        found[path] = [(name, id(node) not in lazy) for node in ast.walk(tree) for name in _imported(node)]
    return found


def edges() -> set[tuple[str, str, Path]]:
    """(importing part, imported part, importing file) for every import of another part of landing."""
    found = set()
    for path, names in imports().items():
        for name, _ in names:
            if name.startswith("landing."):
                target = name.split(".")[1]
                if target != _part(path):
                    found.add((_part(path), target, path))
    return found


def documented_feature_edges() -> set[tuple[str, str]]:
    """The list under "Edges between features": lines `- `a -> b`: why`."""
    section = DOC.read_text(encoding="utf-8").split("### Edges between features", 1)[1].split("\n#", 1)[0]
    return {(a, b) for a, b in re.findall(r"^- `(\w+) -> (\w+)`", section, flags=re.M)}


def test_every_part_of_the_package_has_a_layer():
    assert {_part(path) for path in imports()} - {"__init__"} == set(LAYERS)


def test_imports_go_down_the_layers():
    upward = sorted(
        f"{path.relative_to(PACKAGE)} imports {target}"
        for source, target, path in edges()
        if LAYERS[target] > LAYERS[source] or (LAYERS[target] == LAYERS[source] and LAYERS[source] in (1, 3))
    )
    assert upward == []


def test_nothing_imports_the_handlers():
    assert sorted(str(path) for source, target, path in edges() if target == "handlers") == []


def test_the_artifact_loads_no_dev_tooling():
    """Only the CLI names the dev package (local/landing_local), and only inside its commands."""
    users = {
        (path.relative_to(PACKAGE).as_posix(), at_load)
        for path, names in imports().items()
        for name, at_load in names
        if name.split(".")[0] == "landing_local"
    }
    assert users and users == {("cli.py", False)}


def test_the_edges_between_features_are_the_documented_ones():
    actual = {(source, target) for source, target, _ in edges() if source in FEATURES and target in FEATURES}
    assert actual == documented_feature_edges()


def test_the_documented_layers_are_the_ones_checked():
    text = DOC.read_text(encoding="utf-8")
    assert "`handlers -> features -> {db, s3} -> {settings, errors}`" in text
    features = re.search(r"the features\s+\(([^)]*)\)", text)
    assert features, "architecture.md names the features in parentheses after 'features'"
    assert set(re.findall(r"`(\w+)/?`", features.group(1))) == FEATURES


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_itself_back():
    """No import cycle between modules, lazy imports and TYPE_CHECKING ones included."""
    modules = {_module(path): path for path in imports()}
    graph = {
        _module(path): {
            # `from landing.s3 import head` names a module; `from landing.s3.head import Head` a member.
            candidate
            for name, _ in names
            for candidate in (name, name.rsplit(".", 1)[0])
            if candidate in modules and candidate != _module(path)
        }
        for path, names in imports().items()
    }
    for path in imports():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in modules and not node.level:
                graph[_module(path)] |= {f"{node.module}.{a.name}" for a in node.names} & set(modules)
    cycles = []
    for start in graph:
        seen, stack = set(), [(start, (start,))]
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join((*trail, start)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, (*trail, nxt)))
    packages = {m for m, p in modules.items() if p.name == "__init__.py"}
    assert [c for c in cycles if not packages & set(c.split(" -> "))] == []
