"""The layering of DESIGN.md holds: imports only point down, and `core/` never imports ray."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Which of dynaprice's own packages each layer may import (DESIGN.md, "Layout").
MAY_IMPORT: dict[str, set[str]] = {
    "cluster": {"serve_apps", "actors", "data_jobs", "tuning", "core"},
    "serve_apps": {"actors", "core"},
    "actors": {"core"},
    "data_jobs": {"core"},
    "tuning": {"core"},
    "core": set(),
}
# Third-party packages a layer must not touch.
BANNED_LIBRARIES: dict[str, set[str]] = {"core": {"ray"}}


def module_name(path: Path) -> str:
    """Dotted module name of a file under the repo root (`core/x/__init__.py` -> `core.x`)."""
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def absolute_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in `source`, including `from m import name`.

    Relative imports are left out: Python never lets them leave the top-level package, so
    they always stay inside one layer.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def violations(source: str, module: str) -> list[str]:
    """Human-readable breaches of the layering by the module `module` with this source."""
    layer = module.split(".")[0]
    forbidden = (set(MAY_IMPORT) - MAY_IMPORT[layer] - {layer}) | BANNED_LIBRARIES.get(layer, set())
    return [
        f"{module}:{line} imports {name}"
        for line, name in absolute_imports(source)
        if name.split(".")[0] in forbidden
    ]


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_layer_imports_point_down(layer: str) -> None:
    files = sorted((REPO_ROOT / layer).rglob("*.py"))
    assert files, f"{layer}/ has no Python files"
    found = [
        breach
        for path in files
        for breach in violations(path.read_text(), module_name(path))
    ]
    assert not found, "layering broken:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import ray", "core.lake"),
        ("import ray.serve as serve", "core.lake"),
        ("def f():\n    from ray import serve", "core.ingest.validate"),
        ("from actors.region_ingestor import RegionIngestor", "core.lake"),
        ("from cluster import cli", "core.lake"),
        ("import tuning.demand", "core.retail.features"),
        ("from data_jobs.retention import apply_policy", "core.retail.features"),
        ("import serve_apps.ingest", "actors.region_ingestor"),
        ("from cluster.cli import app", "actors.cameras.stream"),
        ("from serve_apps.ingest import app", "data_jobs.retention"),
        ("from cluster.cli import app", "serve_apps.ingest"),
    ],
)
def test_checker_catches_upward_imports(source: str, module: str) -> None:
    assert violations(source, module)


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import pyarrow.compute as pc\nfrom core.lake import Lake", "core.ingest.validate"),
        ("from .schema import PricePoint\nfrom . import ray_free", "core.ingest.validate"),
        ("import rayon\nfrom raydar import x", "core.lake"),
        ("import ray\nfrom core.lake import Lake", "actors.region_ingestor"),
        ("from ray import serve\nfrom actors.region_ingestor import Ingestor", "serve_apps.x"),
        ("from serve_apps import ingest\nfrom data_jobs import retention", "cluster.cli"),
    ],
)
def test_checker_allows_downward_imports(source: str, module: str) -> None:
    assert violations(source, module) == []



def test_module_names_follow_the_folders() -> None:
    assert module_name(REPO_ROOT / "core" / "ingest" / "__init__.py") == "core.ingest"
    assert module_name(REPO_ROOT / "actors" / "camera_stream.py") == "actors.camera_stream"
