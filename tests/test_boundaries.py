"""Architecture rules that a refactor could break silently."""

import ast
import subprocess
import sys
from collections import deque
from pathlib import Path

ROOT = Path(__file__).parents[1]
CACHE_DECORATORS = {"cache_data", "cache_resource", "cache", "experimental_memo", "experimental_singleton"}
HEAVY = ("torch", "peft", "faiss", "transformers", "sentence_transformers")


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _modules_imported_by(code: str) -> set[str]:
    """The top-level names of the modules in sys.modules after a fresh interpreter runs `code`."""
    probe = code + "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_core_never_imports_streamlit():
    modules = [_module_name(p) for p in _sources("core")]
    code = ("import sys; sys.modules['streamlit'] = None\n"  # any import of streamlit now raises ImportError
            + "".join(f"import {m}\n" for m in modules)
            + "assert sys.modules['streamlit'] is None\nprint(len(sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def _streamlit_cache_uses(path: Path) -> list[str]:
    """Each st.cache_* (or streamlit.cache_*, or `from streamlit import cache_*`) in a file, as 'file:line'."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in CACHE_DECORATORS
                and isinstance(node.value, ast.Name) and node.value.id in ("st", "streamlit")):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "streamlit":
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: from streamlit import {alias.name}"
                      for alias in node.names if alias.name in CACHE_DECORATORS]
    return found


def test_only_dashboard_state_caches():
    state = ROOT / "dashboard" / "state.py"
    assert _streamlit_cache_uses(state), "the scan must see the caches in dashboard/state.py"
    elsewhere = [use for path in _sources("dashboard", "pages", "core") if path != state
                 for use in _streamlit_cache_uses(path)]
    assert not elsewhere, "st.cache_* belongs in dashboard/state.py only:\n" + "\n".join(elsewhere)


def test_the_dashboard_starts_without_importing_torch():
    imported = _modules_imported_by("import dashboard.app")
    assert "streamlit" in imported and "dashboard" in imported  # the probe did import the app
    assert "torch" not in imported, "importing dashboard.app imports torch: keep heavy imports inside functions"


def test_the_method_registry_imports_no_heavy_library():
    imported = _modules_imported_by("import core.methods\nassert core.methods.METHODS")
    heavy = sorted(set(HEAVY) & imported)
    assert not heavy, f"importing core.methods imports {heavy}: a method's heavy imports belong in its fit"


# -- import cycles among core modules ----------------------------------------------------------------------------
def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (function-local ones too), except under `if TYPE_CHECKING:`,
    which never runs."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the core modules it imports. `from X import a` points at X, and at X.a where that is a module;
    the parent packages that Python imports implicitly on the way are not edges."""
    paths = {_module_name(p): p for p in _sources("core")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges = set()
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names}
                continue
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..task import data
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            edges.add(base)
            edges |= {f"{base}.{alias.name}" for alias in node.names}
        graph[module] = {target for target in edges if target in paths and target != module}
    return graph


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of modules that import each other, directly or not."""
    index, low, on_stack, stack, groups, counter = {}, {}, set(), [], [], [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(sorted(group))
    return groups


def _shortest_cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """Breadth first from start back to itself: the shortest import chain that returns to it."""
    previous, queue = {start: None}, deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child == start:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return None


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle through each module that is on a cycle, without repeats (a cycle is listed once,
    whichever module it is found from)."""
    cycles, seen = [], set()
    for group in _strongly_connected(graph):
        if len(group) < 2:
            continue
        for module in group:
            cycle = _shortest_cycle_through(graph, module)
            rotation = cycle[:-1].index(min(cycle[:-1]))
            key = tuple(cycle[:-1][rotation:] + cycle[:-1][:rotation])
            if key not in seen:
                seen.add(key)
                cycles.append([*key, key[0]])
    return cycles


def test_the_cycle_finder_finds_cycles_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}, "f": {"g"}, "g": {"f"}}
    assert sorted(map(sorted, _strongly_connected(graph))) == [["a", "b", "c"], ["d"], ["e"], ["f", "g"]]
    assert sorted(import_cycles(graph)) == [["a", "b", "c", "a"], ["f", "g", "f"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_import_graph_sees_local_and_relative_imports_but_not_type_checking_ones():
    graph = import_graph()
    assert len(graph) == len(_sources("core")) and any(graph.values())
    # core.methods.base imports its heavy types under TYPE_CHECKING only; the registry imports its method modules
    assert {"core.methods.rag", "core.methods.lora", "core.methods.base"} <= graph["core.methods"]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import core.a\nelse:\n    import core.b\n"
                     "def f():\n    from core import c\n")
    names = {alias.name for node in _runtime_imports(tree) for alias in node.names}
    assert names == {"TYPE_CHECKING", "core.b", "c"}


def test_core_modules_import_each_other_without_cycles():
    cycles = import_cycles(import_graph())
    assert not cycles, f"{len(cycles)} import cycle(s) among core modules:\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles)
