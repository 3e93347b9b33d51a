"""The package's own rules of structure (README "Architecture"), besides the layers `make lint` checks
with import-linter: no module imports another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent.parent / "python" / "portlens"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def test_no_module_imports_another_modules_private_names() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
                continue
            source = _resolve(importer, path.name == "__init__.py", node)
            if not source.startswith("portlens") or source == importer:
                continue
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and f"{source}.{alias.name}" != importer and f"{source}.{alias.name}" not in _MODULES:
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {source}.{alias.name}")
    assert found == []


# private modules (portlens._core, ._scan, ._options, ._lazy) are the package's own: importing one is
# not importing a private name of another module
_MODULES = {
    _module(p) if p.suffix == ".py" else f"portlens.{p.name.split('.')[0]}"
    for p in [*PACKAGE.rglob("*.py"), *PACKAGE.glob("_core*.so")]
}
