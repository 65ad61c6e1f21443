"""The layers of the code: imports only point down, and no module imports itself in a circle.

The order (DESIGN.md, "Target layers"), lowest first; a module may import its own layer's
modules and those of lower layers, never a peer's or a higher one's:

    bot.core                      settings, the brand's data, policy, the order back end
    knowledge, bot.stack          retrieval; running the stack (processes, training, client)
    adapters, bot.gate            the voice model; the confidence gate
    bot.console                   the support team's side: handoffs, evidence, analytics
    actions                       Rasa's custom actions and the action server
    bot.brands                    a brand's own actions.py
    bot.bench, bot.seed           benchmarks and experiments; generators of sample data
    bot.tandem                    the `tandem` command: imported by nothing

bot.rasa_side runs inside the Rasa process (the other venv) and imports nothing of the
project but the standard-library-only modules of SHARED_WITH_RASA (the masking of personal
data, which both processes apply, and an error's chain of causes); bot.core, knowledge and adapters never import Rasa. Every import counts, also one
inside a function or under TYPE_CHECKING: a circle hidden in a function is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.core.settings import ROOT

PACKAGES = ("bot", "actions", "knowledge", "adapters")
RANKS = {
    "bot.core": 0,
    "knowledge": 1,
    "bot.stack": 1,
    "adapters": 2,
    "bot.gate": 2,
    "bot.console": 2,
    "actions": 3,
    "bot.brands": 4,
    "bot.bench": 5,
    "bot.seed": 5,
    "bot.tandem": 6,
}
ISOLATED = ("bot.rasa_side",)  # imports nothing of the project, but:
SHARED_WITH_RASA = (
    "bot.core.privacy",
    "bot.core.errors",
    "bot.core.rephrased",
)  # standard library only: the Rasa venv can import it
NO_RASA = ("bot.core", "knowledge", "adapters")  # plain Python, testable without Rasa


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def read_modules(root: Path) -> dict[str, Path]:
    """Every project module under `root`: dotted name -> file (a brand's actions.py too)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "node_modules" not in path.parts:
                found[module_name(path, root)] = path
    return found


def imports_of(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules a file imports, anywhere in it (a package stands for itself)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
            ]
        for target in targets:
            top = target.split(".")[0]
            if top in ("rasa", "rasa_sdk"):
                found.add(top)
            elif top in PACKAGES:
                while target and target not in modules:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if target and target != "bot":
                    found.add(target)
    return found


def layer_of(name: str) -> str | None:
    candidates = [layer for layer in (*RANKS, *ISOLATED) if name == layer or name.startswith(layer + ".")]
    return max(candidates, key=len) if candidates else None


def violations(root: Path) -> list[str]:
    """What breaks the layering under `root`: imports that point up or sideways, modules
    outside every layer, Rasa where it must not be, and import circles."""
    modules = read_modules(root)
    graph = {name: imports_of(path, name, modules) for name, path in modules.items()}
    problems = []
    for name, targets in sorted(graph.items()):
        layer = layer_of(name)
        if layer is None:
            if name != "bot":
                problems.append(f"{name} is in no layer")
            continue
        for target in sorted(targets):
            if target in ("rasa", "rasa_sdk"):
                if layer in NO_RASA:
                    problems.append(f"{name} imports {target}: {layer} must not know Rasa")
                continue
            other = layer_of(target)
            if other == layer:
                continue
            if layer in ISOLATED and target in SHARED_WITH_RASA:
                continue
            if layer in ISOLATED:
                problems.append(f"{name} imports {target}: {layer} runs in the Rasa venv and imports nothing")
            elif other in ISOLATED or other is None or RANKS[other] >= RANKS[layer]:
                problems.append(
                    f"{name} ({layer}) imports {target} ({other}): a lower layer imports a higher one"
                )
    problems += [f"import circle: {' -> '.join(c)}" for c in circles(graph)]
    return problems


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group) + [min(group)])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_project_keeps_its_layers_and_has_no_import_circle():
    assert violations(ROOT) == []


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


CLEAN = {
    "bot/__init__.py": "",
    "bot/core/__init__.py": "",
    "bot/core/settings.py": "import os\n",
    "knowledge/__init__.py": "",
    "knowledge/store.py": "from bot.core.settings import os\n",
    "bot/tandem/__init__.py": "",
    "bot/tandem/cli.py": "from knowledge import store\n",
}


def test_a_clean_tree_passes(tmp_path):
    assert violations(write(tmp_path, CLEAN)) == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"knowledge/store.py": "def f():\n    from bot.tandem import cli\n"},
            "a lower layer imports a higher one",
        ),
        ({"bot/core/settings.py": "import knowledge.store\n"}, "a lower layer imports a higher one"),
        ({"knowledge/store.py": "from rasa_sdk import Action\n"}, "must not know Rasa"),
        (
            {"bot/rasa_side/__init__.py": "", "bot/rasa_side/channel.py": "from bot.core import settings\n"},
            "imports nothing",
        ),
        ({"bot/tools.py": "import os\n"}, "bot.tools is in no layer"),
        (
            {
                "knowledge/a.py": "from knowledge import b\n",
                "knowledge/b.py": "def f():\n    import knowledge.a\n",
            },
            "import circle: knowledge.a -> knowledge.b -> knowledge.a",
        ),
    ],
    ids=[
        "up-in-a-function",
        "core-imports-knowledge",
        "rasa-in-knowledge",
        "rasa-side",
        "no-layer",
        "circle",
    ],
)
def test_a_forbidden_import_or_a_circle_is_caught(tmp_path, extra, expected):
    problems = violations(write(tmp_path, {**CLEAN, **extra}))
    assert any(expected in problem for problem in problems), problems


def test_what_rasa_shares_imports_only_the_standard_library():
    import sys

    for name in SHARED_WITH_RASA:
        path = ROOT / (name.replace(".", "/") + ".py")
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in sys.stdlib_module_names or root == "__future__", f"{name} imports {root}"
