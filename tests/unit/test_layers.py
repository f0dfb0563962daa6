"""The layers stay apart: the config does not import the specs it configures, specs do not import Pulumi, and
components do not take spec dicts apart (components/resources.register does, in one place)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ROOT / "components"
OBJECT_FIELDS = {"apiVersion", "kind", "metadata", "spec", "data", "stringData", "rules", "roleRef", "subjects"}
"""Top-level fields of a Kubernetes object: a component that subscripts one is taking a spec apart."""
DICT_READERS = {
    "resources.py": "the registrar: the one place that maps a spec dict onto a resource",
    "crd_bundle.py": "a dynamic provider: it applies upstream CRD documents itself",
    "gke_lifecycle.py": "a dynamic provider: it reads the API server's answers",
}


def loaded_modules(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(m for m in sys.modules if m.startswith('components')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_config_imports_no_spec_module() -> None:
    loaded = loaded_modules("components.config")
    assert "components.config" in loaded
    assert not {m for m in loaded if m.startswith("components.specs")}, loaded


@pytest.mark.parametrize("path", sorted((COMPONENTS / "specs").glob("*.py")), ids=lambda p: p.name)
def test_specs_are_pure_data_builders(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
        n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
    }
    assert not {m for m in imported if m.split(".")[0] in ("pulumi", "pulumi_kubernetes", "pulumi_gcp")}, path


@pytest.mark.parametrize(
    "path", sorted(p for p in COMPONENTS.glob("*.py") if p.name not in DICT_READERS), ids=lambda p: p.name
)
def test_components_do_not_take_spec_dicts_apart(path: Path) -> None:
    tree = ast.parse(path.read_text())
    found = [
        f"{path.name}:{n.lineno} [{n.slice.value!r}]"
        for n in ast.walk(tree)
        if isinstance(n, ast.Subscript)
        and isinstance(n.slice, ast.Constant)
        and n.slice.value in OBJECT_FIELDS
        # reading an output of a registered resource (res.metadata["name"]) is not taking a spec apart
        and not isinstance(n.value, ast.Attribute)
    ]
    assert not found, found
