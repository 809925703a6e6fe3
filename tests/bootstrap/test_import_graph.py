"""bootstrap's modules import each other without a cycle (ast over bootstrap/*.py, lazy imports
inside functions included), and the names once defined in bootstrap/cli.py stay importable there."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.tools import REPO

PACKAGE = "bootstrap"


def import_graph(package_dir: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from pkg import m``, ``from pkg.m import x``, ``import pkg.m``)."""
    modules = {path.stem for path in package_dir.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in sorted(package_dir.glob("*.py")):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == package:
                    deps |= {alias.name for alias in node.names if alias.name in modules}
                elif node.module.startswith(f"{package}."):
                    deps.add(node.module.split(".")[1])
            elif isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[1] for a in node.names if a.name.startswith(f"{package}.")}
        graph[path.stem] = (deps & modules) - {path.stem}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_finder_sees_a_cycle() -> None:
    assert find_cycle({"cli": {"apply"}, "apply": {"cli"}}) == ["apply", "cli", "apply"]
    assert find_cycle({"cli": {"apply", "cli_options"}, "apply": {"cli_options"}, "cli_options": set()}) is None


def test_the_graph_reads_lazy_and_dotted_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("def f():\n    from pkg import b\n")
    (pkg / "b.py").write_text("import pkg.c\n")
    (pkg / "c.py").write_text("from pkg.a import f\nimport os\n")
    graph = import_graph(pkg, "pkg")
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]


def test_bootstrap_imports_are_acyclic() -> None:
    graph = import_graph(REPO / PACKAGE, PACKAGE)
    assert {"cli", "cli_options", "apply", "local"} <= graph.keys()
    assert "cli" not in graph["apply"] | graph["local"]  # the old cycle
    assert find_cycle(graph) is None


def test_the_shared_option_names_are_still_importable_from_cli() -> None:
    from bootstrap import cli, cli_options

    for name in ("SpecOptions", "UsageError", "add_spec_options", "spec_from_args", "render_for_cli",
                 "write_bundle", "kept_keys", "check_out_folder", "OPTION_FOR_FIELD", "EXIT_USAGE"):
        assert getattr(cli, name) is getattr(cli_options, name), name
