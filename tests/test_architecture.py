"""The package's shape follows its data flow: no module imports one downstream of it, no cycles.

``ORDER`` is the data flow of docs/architecture.md written as data: a module
may import only modules of its own unit or of units earlier in the list.
Every import counts, also those inside functions and under TYPE_CHECKING,
because a hidden import is still a dependency. The CLI and the demo sit at
the edge, after everything they compose.
"""

from __future__ import annotations

import ast
import importlib.util
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "voiceobs"

#: Units (top-level modules or packages of voiceobs), upstream first.
ORDER: tuple[str, ...] = (
    "voiceobs._version",
    "voiceobs.errors",
    "voiceobs.config",
    "voiceobs.measures",
    "voiceobs.durations",
    "voiceobs.safe_yaml",
    "voiceobs.results",
    "voiceobs",  # the root package re-exports the foundation above; the rest resolves lazily
    "voiceobs.redact",
    "voiceobs.users",
    "voiceobs.signin",
    "voiceobs.audio",
    "voiceobs.quality",
    "voiceobs.tracing",
    "voiceobs.pipelines",
    "voiceobs.server",
    "voiceobs.probe",
    "voiceobs.store",
    "voiceobs.metrics",
    "voiceobs.slo",
    "voiceobs.failover",
    "voiceobs.recording",
    "voiceobs.collect",
    "voiceobs.demo",
    "voiceobs.cli",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _imports() -> dict[str, set[str]]:
    """Every voiceobs module and the voiceobs modules it imports, anywhere in its file."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.split(".")[0] == "voiceobs"}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] != "voiceobs":
                    continue
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if _is_module(sub) else node.module)
        deps.discard(name)
        graph[name] = deps
    return graph


def _unit(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_every_unit_is_placed_in_the_order() -> None:
    units = {_unit(m) for m in _imports()}
    assert units - set(ORDER) == set(), "add new modules to ORDER where the data flow puts them"


def test_no_module_imports_one_downstream_of_it() -> None:
    rank = {u: i for i, u in enumerate(ORDER)}
    bad = []
    for module, deps in _imports().items():
        for dep in deps:
            if rank[_unit(dep)] > rank[_unit(module)]:
                bad.append(f"{module} imports {dep}")
    assert bad == [], "\n".join(sorted(bad))


def test_no_import_cycles() -> None:
    graph = _imports()
    # A package's __init__ is reached by importing the package, so edges go to it as is.
    state: dict[str, int] = defaultdict(int)  # 0 new, 1 on the path, 2 done
    cycles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state[dep] == 1:
                cycles.append(" -> ".join([*path[path.index(dep):], dep]))
            elif state[dep] == 0 and dep in graph:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if state[module] == 0:
            visit(module, [module])
    assert cycles == [], "\n".join(cycles)


#: Parameter names that always stand for a voiceobs type; ``Any`` there hides a dependency.
_TYPED_PARAMS = {"store", "spec", "run", "runs", "result", "results", "turn", "record", "rec",
                 "redactor", "hooks", "slo", "slos"}  # fmt: skip


def test_no_any_stands_in_for_a_voiceobs_type() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" in path.parts:
            continue  # click callbacks receive plain values
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for arg in [*node.args.args, *node.args.kwonlyargs]:
                ann = arg.annotation
                if arg.arg in _TYPED_PARAMS and isinstance(ann, ast.Name) and ann.id == "Any":
                    bad.append(f"{_module_name(path)}.{node.name}({arg.arg}: Any)")
    assert bad == [], "\n".join(bad)


#: Modules that read the environment for something other than a voiceobs setting.
_ENV_READERS = {
    "voiceobs.config": "the resolver itself",
    "voiceobs.failover.actions": "secrets in variables a hooks file names (secret_env, token_env)",
    "voiceobs.tracing": "the OpenTelemetry SDK's own OTEL_EXPORTER_OTLP_* variables",
}


def _reads_environment(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func
            if target.attr == "getenv" and isinstance(target.value, ast.Name) and target.value.id == "os":
                lines.append(node.lineno)
                continue
            if target.attr == "get":
                target = target.value  # os.environ.get(...)
            else:
                continue
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            target = node.value  # os.environ[...]
        if (
            isinstance(target, ast.Attribute)
            and target.attr == "environ"
            and isinstance(target.value, ast.Name)
            and target.value.id == "os"
        ):
            lines.append(node.lineno)
    return lines


def test_every_setting_is_read_through_the_one_resolver() -> None:
    """``VOICEOBS_*`` settings come from ``voiceobs.config.resolve``: argument > env > file > default."""
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        if name in _ENV_READERS:
            continue
        for line in _reads_environment(ast.parse(path.read_text(encoding="utf-8"))):
            bad.append(f"{name}:{line}")
    assert bad == [], "read settings with voiceobs.config.resolve:\n" + "\n".join(bad)
