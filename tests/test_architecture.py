"""The shape of the source tree: no import circles, no import from a higher floor, short modules.

Every module of ``src/vidscope`` is parsed (not imported) and every import in it counts,
including imports inside functions and under ``TYPE_CHECKING``: a lazy import is still a
dependency, only a later one.

The floors, lowest first; a module may import from its own package, from a lower floor, and
never from a package beside it on the same floor:

- ``errors``, ``_version``: the error types and the version, imported by everything;
- ``media``: probing, decoding and fetching media files, given explicit arguments;
- ``config``: the settings, which name media's download limits; nothing in media reads them;
- ``timeline``: result bundles on disk, written and read back, and their exports;
- ``models``, ``search``: model files and runtimes (Whisper, detectors, vision-language
  backends); the search index of many bundles, which reads bundles and settings only;
- ``analyzers``: the analyzers, their registry and their parameters in the settings;
- ``report``: the HTML report of a bundle, which reads bundles and the analyzers' views;
- ``result``: the public ``Result``, a bundle read back that exports itself and writes its
  report;
- ``engine``: plans and runs analyzers over inputs into bundles (returning that ``Result``);
- ``api``: ``vidscope.analyze``;
- ``vidscope`` (the package itself): the public names;
- ``server``: the HTTP service;
- ``cli``: the commands, on top of everything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "vidscope"
MAX_LINES = 450

FLOORS: list[tuple[str, ...]] = [
    ("errors", "_version"),
    ("media",),
    ("config",),
    ("timeline",),
    ("models", "search"),
    ("analyzers",),
    ("report",),
    ("result",),
    ("engine",),
    ("api",),
    ("",),  # the package's own __init__: the public names
    ("server",),
    ("cli",),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """The vidscope modules ``name`` imports: ``from a import b`` counts as ``a.b`` when that
    is a module, else as ``a``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target in MODULES and target != name:
                yield target


GRAPH = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def _package(module: str) -> str:
    """The top-level part of vidscope ``module`` belongs to ("" for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _floor(module: str) -> int:
    package = _package(module)
    for floor, packages in enumerate(FLOORS):
        if package in packages:
            return floor
    raise AssertionError(f"{module}: its package {package!r} is on no floor; add it to FLOORS")


def _circles() -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative:
    the graph is small, but recursion depth should not depend on it)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for root in sorted(GRAPH):
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def _upward() -> set[tuple[str, str]]:
    """Imports of a higher floor, or of a package beside the importer's on its floor."""
    out = set()
    for module, targets in GRAPH.items():
        for target in targets:
            if _package(target) == _package(module):
                continue
            if _floor(target) >= _floor(module):
                out.add((module, target))
    return out


def _long() -> set[str]:
    return {
        name
        for name, path in MODULES.items()
        if len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES
    }


def test_every_package_is_on_a_floor():
    for module in MODULES:
        _floor(module)


def test_no_import_circles():
    assert not sorted(map(sorted, _circles()))


def test_no_import_from_a_higher_floor():
    assert not sorted(_upward())


def test_no_module_over_450_lines():
    assert not sorted(_long())


def test_the_walk_sees_lazy_and_relative_imports(tmp_path):
    """The checks above are only as good as the import walk: a function-level import, a
    ``TYPE_CHECKING`` import and a relative import must all count."""
    package = tmp_path / "vidscope" / "pkg"
    package.mkdir(parents=True)
    code = (
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from vidscope.config import Settings\n"
        "def f():\n"
        "    import vidscope.cli\n"
        "    from vidscope.models.vlm import base\n"
    )
    (package / "mod.py").write_text(code)
    names = {"vidscope.pkg.sibling", "vidscope.config", "vidscope.cli", "vidscope.models.vlm.base"}
    saved = dict(MODULES)
    MODULES.update(dict.fromkeys(names, Path()))
    MODULES["vidscope.models.vlm"] = Path()
    try:
        assert set(_imports("vidscope.pkg.mod", package / "mod.py")) == names
    finally:
        MODULES.clear()
        MODULES.update(saved)


def test_each_analyzer_lives_in_a_module_named_after_it():
    """A newcomer looking for the ``speech`` analyzer opens ``speech.py``; no other module under
    ``analyzers/`` carries an analyzer's name (a folder may: ``speech/`` holds the analyzers of
    sound)."""
    from vidscope.analyzers.registry import BUILTIN

    homes = {target.partition(":")[0] for target in BUILTIN.values()}
    for name, target in BUILTIN.items():
        assert target.partition(":")[0].rpartition(".")[2] == name, (name, target)
    namesakes = {
        module
        for module in MODULES
        if module.startswith("vidscope.analyzers.")
        and module.rpartition(".")[2] in BUILTIN
        and MODULES[module].name != "__init__.py"
    }
    assert namesakes == homes
