"""Meta-tests: the layers point one way, SQL stays in store modules, no import cycles, engines are
asked what they can do (never which one they are)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FACELIB = ROOT / "facelib"
UI = [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(absolute module, imported names) of every import outside ``if TYPE_CHECKING:`` blocks."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]

    def visit(node: ast.AST) -> Iterator[tuple[str, list[str]]]:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (x for child in node.orelse for x in visit(child))
            return
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod, [a.name for a in node.names]
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(tree(path))


def top(mod: str) -> str:
    return mod.split(".")[0]


def test_facelib_never_imports_streamlit():
    offenders = [str(p) for p in FACELIB.rglob("*.py") if any(top(m) == "streamlit" for m, _ in runtime_imports(p))]
    assert offenders == []


def test_pages_import_only_top_level_facelib_names_and_no_engine_libraries():
    banned = {"boto3", "botocore", "dlib", "diskcache", "cv2", "sqlite3"}
    offenders = {}
    for p in UI:
        for mod, _names in runtime_imports(p):
            if top(mod) in banned or (top(mod) == "facelib" and mod != "facelib"):
                offenders.setdefault(str(p.relative_to(ROOT)), []).append(mod)
    assert offenders == {}


def test_pages_never_run_sql():
    offenders = [str(p) for p in UI if any(isinstance(n, ast.Attribute) and n.attr in ("execute", "executemany")
                                           for n in ast.walk(tree(p)))]
    assert offenders == []


def is_store_module(path: Path) -> bool:
    rel = path.relative_to(FACELIB)
    return rel.parts[0] == "store" or path.name == "store.py"


def test_sql_only_in_store_modules():
    offenders = []
    for p in FACELIB.rglob("*.py"):
        calls = [n for n in ast.walk(tree(p)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr in ("execute", "executemany", "executescript")]
        if calls and not is_store_module(p):
            offenders.append(f"{p.relative_to(ROOT)}:{calls[0].lineno}")
    assert offenders == []


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in FACELIB.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for m, p in modules.items():
        for mod, names in runtime_imports(p):
            if top(mod) != "facelib":
                continue
            # "from .x import y" may import the submodule x.y
            targets = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in modules] or [mod]
            graph[m].update(t for t in targets if t in modules and t != m)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module (each is an import cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_tarjan_finds_a_planted_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_facelib():
    graph = import_graph()
    # Packages import their own submodules (``__init__`` re-exports); that is not a cycle of owners.
    for m in graph:
        graph[m] = {t for t in graph[m] if not (m == t.rpartition(".")[0])}
    assert strongly_connected(graph) == []


@pytest.mark.parametrize("library, allowed", [
    ("dlib", {"engines/local/dlib.py"}),
    ("cv2", {"engines/local/sface.py"}),
    ("boto3", {"aws.py"}),
    ("botocore", {"aws.py", "engines/rekognition/engine.py", "engines/rekognition/shapes.py", "ingest/s3.py"}),
    ("diskcache", {"engines/rekognition/cache.py"}),
])
def test_engine_libraries_stay_in_their_owner(library, allowed):
    users = {str(p.relative_to(FACELIB)) for p in FACELIB.rglob("*.py")
             if any(top(m) == library for m, _ in runtime_imports(p))}
    assert users <= allowed, users - allowed


ENGINE_NAMES = {"local", "rekognition", "LOCAL", "REKOGNITION"}


def engine_checks(path: Path) -> list[str]:
    """``hasattr(...)`` calls and comparisons against an engine's name, with their line numbers."""
    found = []
    for n in ast.walk(tree(path)):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "hasattr":
            found.append(f"{path.relative_to(ROOT)}:{n.lineno} hasattr")
        if isinstance(n, ast.Compare):
            for side in [n.left, *n.comparators]:
                if (isinstance(side, ast.Constant) and side.value in ENGINE_NAMES) or \
                        (isinstance(side, ast.Attribute) and side.attr in ENGINE_NAMES):
                    found.append(f"{path.relative_to(ROOT)}:{n.lineno} engine name compare")
    return found


def test_no_hasattr_or_engine_name_compares_outside_the_registry():
    registry = FACELIB / "engines" / "__init__.py"
    offenders = [x for p in [*FACELIB.rglob("*.py"), *UI] if p != registry for x in engine_checks(p)]
    assert offenders == []


def test_the_registry_knows_which_engines_are_paid():
    from facelib import engines
    from facelib.engines.local import LocalEngine
    from facelib.engines.rekognition.engine import RekognitionEngine

    classes = {LocalEngine.name: LocalEngine, RekognitionEngine.name: RekognitionEngine}
    assert set(classes) == set(engines.ENGINES)
    assert engines.PAID == {name for name, cls in classes.items() if cls.paid}
    assert RekognitionEngine.reports_age and not LocalEngine.reports_age
    assert {LocalEngine.parallel, RekognitionEngine.parallel} == {"process", "thread"}


def protocol_members(proto: type) -> set[str]:
    import typing

    return set(typing._get_protocol_attrs(proto))  # type: ignore[attr-defined]


def test_engines_satisfy_the_protocols():
    from facelib.engines.base import BoxDetector, Engine, SupportsUsers
    from facelib.engines.local import LocalEngine
    from facelib.engines.rekognition.engine import RekognitionEngine

    for cls in (LocalEngine, RekognitionEngine):
        missing = [m for m in protocol_members(Engine) if not hasattr(cls, m) and m not in cls.__annotations__]
        assert missing == [], (cls, missing)
    assert all(callable(getattr(RekognitionEngine, m)) for m in protocol_members(SupportsUsers))
    assert not all(callable(getattr(LocalEngine, m, None)) for m in protocol_members(SupportsUsers))
    assert callable(LocalEngine.detect_boxes) and "detect_boxes" in protocol_members(BoxDetector)


def test_logging_is_configured_in_one_place():
    """Modules log through ``logging.getLogger(__name__)``; only facelib/logs.py configures logging
    (handlers, levels, basicConfig), so the app and the CLI log the same way."""
    configuring = {"basicConfig", "addHandler", "setLevel", "dictConfig", "fileConfig", "setLogLevel"}
    offenders = []
    for path in [*FACELIB.rglob("*.py"), *UI]:
        if path == FACELIB / "logs.py":
            continue
        for n in ast.walk(tree(path)):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in configuring:
                offenders.append(f"{path.relative_to(ROOT)}:{n.lineno} {n.func.attr}")
    assert offenders == []
