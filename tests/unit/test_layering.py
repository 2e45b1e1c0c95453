"""DESIGN.md §2: layers import only layers above them; components never import each other.

Layers in order: core -> api -> common -> components -> cli. A module may import
damselfly modules of its own layer or earlier layers only. The components are
scheduler, daemon, manager and demo (demo may use core, api and common only, like any
component); a component never imports another component. core imports the standard
library only. damselfly/__init__.py imports nothing.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "damselfly"

LAYERS: dict[str, int] = {"core": 0, "api": 1, "common": 2, "cli": 4}
COMPONENTS = frozenset({"scheduler", "daemon", "manager", "demo"})
COMPONENT_LAYER = 3
LAYER_NAMES = ["core", "api", "common", "components", "cli"]

# The one third-party import core may make: crc32c is the piece digest the design
# measured and chose (DESIGN.md §3, "Piece digest"); it takes a buffer without copying.
CORE_THIRD_PARTY = {("damselfly.core.digest", "crc32c")}


def layer_of(module: str) -> tuple[int, str] | None:
    """(layer index, top-level package) of a damselfly module, None if it has no layer."""
    parts = module.split(".")
    if parts in (["damselfly"], ["damselfly", "__version__"]):
        return 0, ""  # the root package holds nothing but its version
    top = parts[1]
    if top in COMPONENTS:
        return COMPONENT_LAYER, top
    if top in LAYERS:
        return LAYERS[top], top
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every (line, absolute module) imported anywhere in the tree, functions included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "damselfly":
                # ``from damselfly import core`` imports the subpackage.
                found += [(node.lineno, f"damselfly.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return found


def violations_in(source: str, module: str, where: str, *, is_package: bool = False) -> list[str]:
    tree = ast.parse(source)
    problems: list[str] = []
    if module == "damselfly":
        problems += [
            f"{where}:{line}: imports {target}; damselfly/__init__.py must import nothing"
            for line, target in imported_modules(tree, module, is_package)
        ]
        return problems
    own = layer_of(module)
    if own is None:
        return [f"{where}: module {module} is in no layer of DESIGN.md §2"]
    own_layer, own_top = own
    for line, target in imported_modules(tree, module, is_package):
        head = target.split(".")[0]
        if head != "damselfly":
            if (
                own_top == "core"
                and head not in sys.stdlib_module_names
                and (module, head) not in CORE_THIRD_PARTY
            ):
                problems.append(
                    f"{where}:{line}: core module {module} imports third-party {target}; "
                    "core uses the standard library only"
                )
            continue
        other = layer_of(target)
        if other is None:
            problems.append(f"{where}:{line}: imports {target}, which is in no layer")
            continue
        other_layer, other_top = other
        if other_layer > own_layer:
            problems.append(
                f"{where}:{line}: {module} ({LAYER_NAMES[own_layer]}) imports {target} "
                f"({LAYER_NAMES[other_layer]}); a layer may only import earlier layers"
            )
        elif other_layer == COMPONENT_LAYER == own_layer and other_top != own_top:
            problems.append(
                f"{where}:{line}: component {own_top} imports {target}; components never "
                "import each other (share code through core, api or common)"
            )
    return problems


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_source_tree_found() -> None:
    names = {module_name(p) for p in source_files()}
    assert {"damselfly", "damselfly.core.ids", "damselfly.scheduler.service"} <= names


def test_layering_rules_hold() -> None:
    problems: list[str] = []
    for path in source_files():
        problems += violations_in(
            path.read_text(),
            module_name(path),
            str(path.relative_to(SRC.parent)),
            is_package=path.name == "__init__.py",
        )
    if problems:
        print("\n".join(problems))
    assert not problems, "layering violations:\n" + "\n".join(problems)


# The checker itself, on small made-up modules, so the rule test can fail. ------------


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        ("damselfly.core.x", "import damselfly.api.status", "only import earlier layers"),
        ("damselfly.core.x", "from damselfly.common import clock", "only import earlier"),
        ("damselfly.api.x", "from damselfly.common.clock import FakeClock", "earlier layers"),
        ("damselfly.common.x", "def f():\n    from damselfly.daemon import config\n", "earlier"),
        ("damselfly.scheduler.x", "from damselfly.cli import dfget", "earlier layers"),
        ("damselfly.scheduler.x", "from damselfly.daemon.config import X", "never import each"),
        ("damselfly.daemon.x", "import damselfly.manager.db", "never import each other"),
        ("damselfly.demo.x", "from damselfly.scheduler.server import S", "never import each"),
        ("damselfly.daemon.x", "from damselfly import scheduler", "never import each other"),
        ("damselfly.core.x", "import yaml", "standard library only"),
        ("damselfly.core.x", "import crc32c", "standard library only"),
        ("damselfly.core.sub.x", "from ...api import status", "only import earlier layers"),
        ("damselfly", "import os", "must import nothing"),
        ("damselfly.extras.x", "import os", "in no layer"),
    ],
)
def test_checker_reports(module: str, source: str, rule: str) -> None:
    problems = violations_in(source, module, "x.py")
    assert len(problems) == 1
    assert rule in problems[0]


@pytest.mark.parametrize(
    ("module", "source"),
    [
        (
            "damselfly.core.digest",
            "from __future__ import annotations\nimport crc32c\nimport hashlib",
        ),
        ("damselfly.core.x", "from damselfly.core.errors import Code\nfrom . import ids"),
        ("damselfly.api.x", "import grpc\nfrom damselfly.core import errors"),
        ("damselfly.common.x", "from damselfly.api.status import encode_details"),
        ("damselfly.daemon.x", "from damselfly.common.clock import Clock\nfrom .y import z"),
        ("damselfly.demo.x", "from damselfly.core.models import HostInfo"),
        ("damselfly.cli.x", "from damselfly.daemon.server import D\nimport damselfly.scheduler"),
        ("damselfly.cli.x", "from damselfly.demo import origin"),
    ],
)
def test_checker_accepts(module: str, source: str) -> None:
    assert violations_in(source, module, "x.py") == []
