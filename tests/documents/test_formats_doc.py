"""Every citation of ``docs/formats.md §N`` in the code and tests names a real section."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ROOT / "docs" / "formats.md"
CITATION = re.compile(r"docs/formats\.md §(\d+(?:\.\d+)?)")
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", re.MULTILINE)


def sections() -> set[str]:
    return set(HEADING.findall(FORMATS.read_text()))


def citations() -> list[tuple[str, str]]:
    found = []
    for top in ("src", "tests", "docs"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in (".py", ".md") and path.is_file():
                for number in CITATION.findall(path.read_text()):
                    found.append((str(path.relative_to(ROOT)), number))
    return found


def test_sections_are_numbered_one_to_seven() -> None:
    assert {s for s in sections() if "." not in s} == {str(n) for n in range(1, 8)}


def test_every_citation_names_a_section() -> None:
    cited = citations()
    assert cited, "no citations found: the pattern is wrong"
    assert [(path, n) for path, n in cited if n not in sections()] == []
