"""The layout shows the architecture: every import points down the list of layers, models never
import guides, and nothing below the commands reads Hydra or OmegaConf."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# From the bottom up; a module may import its own layer and any layer below it, except that
# models never import guides.
LAYERS = [
    ("zoo.errors", "zoo.options", "zoo.contracts"),  # bad input, how options and contracts are checked
    ("zoo.data",),  # data sets -> Batch
    ("zoo.nn",),  # building blocks
    ("zoo.models", "guides"),  # Pyro programs p(x, z) and q(z | x); a guide may read its model
    ("zoo.estimators",),  # importance weights, IWAE, SMC/FIVO, MMD
    ("zoo.objectives",),  # losses over (model, guide, batch)
    ("zoo.evaluation",),  # held-out figures, diagnostics, oracle metrics, codes, sample statistics
    ("zoo.training",),  # the loop (validated by held-out figures), checkpoints, devices, processes
    ("zoo.reports",),  # files written for people
    ("zoo.cli", "zoo.run", "zoo.evaluate", "zoo.sample", "zoo.compare"),  # the commands
]
COMMANDS = len(LAYERS) - 1
CONFIG_READERS = ("hydra", "omegaconf")


def package_of(module: str) -> str | None:
    """The entry of LAYERS that `module` belongs to, or None for a module outside the zoo."""
    for layer in LAYERS:
        for package in layer:
            if module == package or module.startswith(package + "."):
                return package
    return None


def rank(package: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if package in layer)


def modules():
    """(name, path) of every module of zoo and guides but zoo's empty __init__."""
    for path in sorted([*(ROOT / "zoo").rglob("*.py"), *(ROOT / "guides").rglob("*.py")]):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts != ("zoo", "__init__"):
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, those inside functions too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


MODULES = list(modules())


def test_every_module_has_a_layer():
    assert [name for name, _ in MODULES if package_of(name) is None] == []


@pytest.mark.parametrize("name,path", MODULES, ids=[name for name, _ in MODULES])
def test_imports_point_down(name, path):
    own = package_of(name)
    wrong = []
    for line, target in imports(path):
        other = package_of(target)
        if other is None or other == own:
            continue
        if rank(other) > rank(own) or (own, other) == ("zoo.models", "guides"):
            wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target} ({other} is not below {own})")
    assert wrong == []


@pytest.mark.parametrize("name,path", MODULES, ids=[name for name, _ in MODULES])
def test_nothing_below_the_commands_reads_hydra(name, path):
    if rank(package_of(name)) == COMMANDS:
        return
    readers = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for line, target in imports(path)
        if target.split(".")[0] in CONFIG_READERS
    ]
    assert readers == []
