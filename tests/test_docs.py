"""The docs describe the code that is here: the layer picture in docs/architecture.md is the import contract."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contract_layers() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (layers,) = [c["layers"] for c in data["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return [" | ".join(part.strip() for part in layer.split("|")) for layer in layers]


def test_the_architecture_picture_is_the_import_contract():
    """The ```layers block of docs/architecture.md lists the same layers, top to bottom, as pyproject's
    import-linter contract that `make test` enforces."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    (block,) = re.findall(r"```layers\n(.*?)```", text, flags=re.S)
    pictured = [" | ".join(p.strip() for p in line.split("|")) for line in block.strip().splitlines()]
    assert pictured == _contract_layers()


def test_every_package_is_in_the_picture_or_beside_it():
    """Each package of the import root appears in the layer picture, or is the simulator beside it."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    for name in packages:
        assert f"kalshi_guard.{name}" in text or name == "simulator", name
    assert "simulator/" in text


def test_code_comments_cite_the_repository_docs_not_outside_documents():
    """No module points a reader at documents outside the repository (DESIGN, REFERENCE, notes/)."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "build", ".mypy-root"} or path == Path(__file__).resolve():
            continue
        if re.search(r"\b(DESIGN §|REFERENCE §|notes/[A-Z]|SAFETY-ANCHORS|ACTORS-AND-STYLE|ECOSYSTEM §)",
                     path.read_text(errors="replace")):
            offenders.append(str(rel))
    assert offenders == []
