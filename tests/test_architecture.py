"""The layers stay layered: the pure core imports no web framework, database or shell.

Read from the source (every import statement, top-level or inside a function), so a lazy import
cannot slip past, and checked again by importing the core in a fresh interpreter.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bcapi"

# What each layer may not import. The engine and the document are the pure core that the API,
# the CLI and the rules CI share; services hold the use cases and know nothing of HTTP.
FORBIDDEN = {
    "engine": ("flask", "flask_smorest", "sqlalchemy", "alembic", "psycopg", "gunicorn", "requests",
               "bcapi.http", "bcapi.storage", "bcapi.services", "bcapi.cli", "bcapi.client"),
    "document": ("flask", "flask_smorest", "sqlalchemy", "alembic", "psycopg", "gunicorn", "requests",
                 "bcapi.http", "bcapi.storage", "bcapi.services", "bcapi.cli", "bcapi.client", "bcapi.engine"),
    "services": ("flask", "flask_smorest", "gunicorn", "bcapi.http", "bcapi.cli", "bcapi.client"),
    "storage": ("flask", "flask_smorest", "gunicorn", "bcapi.http", "bcapi.services", "bcapi.cli",
                "bcapi.client"),
}


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement in `path` names, relative imports made absolute."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{base}.{node.module}" if node.module else base)
            else:
                names.add(node.module or "")
    return names


def _breaches(layer: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in imported_modules(path):
            for forbidden in FORBIDDEN[layer]:
                if name == forbidden or name.startswith(forbidden + "."):
                    found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(layer):
    assert _breaches(layer) == []


def test_the_checker_sees_a_forbidden_import(tmp_path, monkeypatch):
    """The scan itself can fail: a module that imports Flask inside a function is caught."""
    layer = tmp_path / "bcapi" / "engine"
    layer.mkdir(parents=True)
    (layer / "leaky.py").write_text("def f():\n    from flask import request\n    from ..http import app\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "bcapi")
    assert sorted(_breaches("engine")) == ["bcapi/engine/leaky.py imports bcapi.http",
                                           "bcapi/engine/leaky.py imports flask"]


def test_importing_the_core_loads_no_framework():
    code = ("import sys, pkgutil, importlib, bcapi.engine, bcapi.document\n"
            "for pkg in (bcapi.engine, bcapi.document):\n"
            "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
            "        importlib.import_module(m.name)\n"
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.split())
    assert not {m for m in loaded if m.split(".")[0] in ("flask", "sqlalchemy", "psycopg", "gunicorn")}
    assert not {m for m in loaded if m.startswith(("bcapi.http", "bcapi.storage", "bcapi.services"))}
