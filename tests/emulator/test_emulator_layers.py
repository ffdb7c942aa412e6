"""The emulator's import rules: it sits below the CLI (runtime <- infra <-
emulator <- cli), and its modules import each other in one direction only."""

from __future__ import annotations

import ast
from pathlib import Path

EMULATOR = Path(__file__).resolve().parents[2] / "emulator"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (lazy imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_emulator_never_imports_the_cli():
    for path in EMULATOR.glob("*.py"):
        offending = {m for m in imported_modules(path) if m == "cli" or m.startswith("cli.")}
        assert not offending, f"{path.name} imports {sorted(offending)}"


def test_the_shims_do_not_import_the_server():
    """LocalAws tells the shims where to route (shims.install(endpoint))."""
    imports = imported_modules(EMULATOR / "shims.py")
    assert not {m for m in imports if m.startswith("emulator")}, sorted(imports)


def test_the_keep_alive_server_knows_neither_moto_nor_the_emulator():
    imports = imported_modules(EMULATOR / "httpserver.py")
    assert not {m for m in imports if m.startswith(("moto", "emulator"))}, sorted(imports)
