"""The packages import one way (the picture in docs/architecture.md): each only
those above it, nothing imports ``cli``, and the cheap paths stay cheap: opening the store
never loads ``apply`` or PyYAML, and reading domain XML files never loads libvirt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "guestmeta"

# Package -> the guestmeta packages it may import (besides itself and ``_lazy``).
ALLOWED = {
    "model": set(),
    "store": {"model"},
    "apply": {"model"},
    "documents": {"model"},
    "domainxml": {"model"},
    "libvirt": {"model", "domainxml"},
    "drives": {"model", "documents"},
    "host": {"model", "store", "apply", "documents", "domainxml", "drives", "libvirt"},
    "inventory": {"model", "domainxml", "libvirt"},
    "service": {"model", "store", "documents"},
    "demo": {
        "model",
        "store",
        "apply",
        "documents",
        "domainxml",
        "drives",
        "libvirt",
        "host",
        "inventory",
        "service",
    },
    "cli": {
        "model",
        "store",
        "apply",
        "documents",
        "domainxml",
        "drives",
        "libvirt",
        "host",
        "inventory",
        "service",
        "demo",
    },
}


def _imports(path: Path) -> set[str]:
    """Every guestmeta package a module imports, at any depth (lazy imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "guestmeta" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_package_imports_only_those_above_it() -> None:
    leaks = []
    for path in sorted(SRC.rglob("*.py")):
        package = path.relative_to(SRC).parts[0]
        if package not in ALLOWED:
            continue
        for imported in _imports(path) - {package, "_lazy"}:
            if imported not in ALLOWED[package]:
                leaks.append(f"{path.relative_to(SRC)} imports guestmeta.{imported}")
    assert leaks == []


def test_the_check_sees_a_leak() -> None:
    """The checker itself: a module of model importing the store is caught."""
    assert _imports(SRC / "store" / "store.py") >= {"model"}
    assert "store" not in ALLOWED["model"]


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_opening_the_store_loads_neither_apply_nor_yaml() -> None:
    loaded = _modules_after("import guestmeta.store")
    assert "guestmeta.store" in loaded
    assert not {m for m in loaded if m.startswith("guestmeta.apply")}
    assert "yaml" not in loaded


@pytest.mark.parametrize("args", [["ips", "--xml", "{dir}"], ["ips", "--xml", "{dir}", "--strict"]])
def test_reading_domain_xml_files_never_loads_libvirt(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "gmtest-a.xml").write_text(
        "<domain type='qemu'><name>gmtest-a</name>"
        "<uuid>6a1b2c3d-0000-4000-8000-00000000000a</uuid></domain>"
    )
    argv = [a.format(dir=tmp_path) for a in args]
    loaded = _modules_after(
        "import sys\n"
        f"sys.argv = ['guestmeta', *{argv!r}]\n"
        "from guestmeta.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
    )
    assert "guestmeta.inventory.xmlfiles" in loaded  # the files were read
    assert "libvirt" not in loaded
    assert "libvirtmod" not in loaded
