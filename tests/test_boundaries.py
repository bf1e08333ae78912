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
def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth: function-local ones, and those under `if TYPE_CHECKING:` too (which
    never run, yet still say the module depends on the other, and would hide a circle from a runtime-only scan)."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]


def import_graph(*folders: str) -> dict[str, set[str]]:
    """module -> the modules of these folders (core's by default) it imports. `from X import a` points at X, and at
    X.a where that is a module; the parent packages that Python imports implicitly on the way are not edges."""
    paths = {_module_name(p): p for p in _sources(*(folders or ("core",)))}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
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


def test_the_import_graph_sees_local_relative_and_type_checking_imports():
    graph = import_graph()
    assert len(graph) == len(_sources("core")) and any(graph.values())
    # the registry imports its method modules; a method module imports the engine's FitContext (core.methods.base)
    assert {"core.methods.rag", "core.methods.lora", "core.methods.base"} <= graph["core.methods"]
    # core.methods.base names the backbone's types under TYPE_CHECKING only: edges all the same
    assert {"core.backbone.embeddings", "core.backbone.models"} <= graph["core.methods.base"]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import core.a\n"
                     "else:\n    import core.b\ndef f():\n    from core import c\n")
    names = {alias.name for node in _imports(tree) for alias in node.names}
    assert names == {"TYPE_CHECKING", "core.a", "core.b", "c"}


def test_core_modules_import_each_other_without_cycles():
    cycles = import_cycles(import_graph())
    assert not cycles, f"{len(cycles)} import cycle(s) among core modules:\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles)


# -- layers: imports flow one way -----------------------------------------------------------------------------
# Lowest first. A module imports from its own layer or from those below it, never from one above (type-only
# imports count). The order follows an experiment: its inputs (the task, the backbone), what methods train and
# score with, the methods, the config built from them, the store the runs write into, the runs, what is made of
# the stored results, and the interfaces. A name matches a module and everything under it; the longest wins.
LAYERS = [
    ("core.errors", "core.paths", "core.schema", "core.cancel"),  # what every layer uses: errors in words, folders,
    # strict models, the cancel check at step boundaries
    ("core.task", "core.backbone"),  # the two inputs, side by side (the task's tokenizer report reads the backbone)
    ("core.training", "core.evaluation"),  # how a network trains, and how answers are scored and models probed
    ("core.methods",),  # the adaptation methods and their registry
    ("core.config",),  # the experiment's settings, with a section per method that has one
    ("core.results.store",),  # where each run's record is written
    ("core.running",),  # one run, the grid, its executors, the job queue
    ("core.results",),  # analysis, costs, recommendation, report, export: all read from the store
    ("core", "core.cli"),  # the Python API (core/__init__.py) and the command line
    ("dashboard", "pages"),  # the dashboard, a thin skin over core
]
# Imports that run back up today, each with the change that removes it. The list only shrinks: an entry that no
# longer occurs fails test_known_upward_imports_still_exist, so it is taken out when it is fixed.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}  # (module, what it imports back up): why, until it is gone


def layer_of(module: str) -> int:
    matches = [(len(name), level) for level, names in enumerate(LAYERS) for name in names
               if module == name or module.startswith(name + ".")]
    assert matches, f"{module} is in no layer: add it to LAYERS in tests/test_boundaries.py"
    return max(matches)[1]


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) for every import of a module in a higher layer than the importer's."""
    return sorted((module, target) for module, targets in graph.items() for target in targets
                  if layer_of(target) > layer_of(module))


def test_the_layer_check_finds_an_import_that_runs_back_up():
    graph = {"core.task.data": {"core.errors", "core.running.grid"}, "core.running.grid": {"core.task.sizes"},
             "core.results.report": {"core.running.grid", "core.results.store"}, "core.results.store": set()}
    assert upward_imports(graph) == [("core.task.data", "core.running.grid")]
    assert layer_of("core.results.store") < layer_of("core.running.run") < layer_of("core.results.analysis")


def test_imports_flow_one_way_through_the_layers():
    graph = import_graph("core", "dashboard", "pages")
    found = [pair for pair in upward_imports(graph) if pair not in KNOWN_UPWARD]
    assert not found, "imports that run back up the layers (LAYERS in tests/test_boundaries.py):\n" + "\n".join(
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})" for module, target in found)


def test_known_upward_imports_still_exist():
    gone = set(KNOWN_UPWARD) - set(upward_imports(import_graph("core")))
    assert not gone, f"fixed, so take them out of KNOWN_UPWARD: {sorted(gone)}"
