"""Code cites only documents in the repository, and every ``docs/wire.md §N`` it cites exists."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WIRE = ROOT / "docs" / "wire.md"
# Names of the design notes kept outside the repository, which code used to cite.
OUTSIDE = ("wire doc", "verk-and-peers", "sidekiq-wire", "shared/docs", "recorder outside")
SECTION = re.compile(r"§(\d+(?:\.\d+)?)")


def sources() -> list[Path]:
    files = [*ROOT.joinpath("verk_compat").rglob("*.py"), *ROOT.joinpath("tests").rglob("*.py")]
    files += [*ROOT.joinpath("bench").rglob("*.py"), *ROOT.joinpath("fixtures").rglob("README.md")]
    return sorted(p for p in files if p != Path(__file__).resolve())


def wire_sections() -> set[str]:
    heads = re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", WIRE.read_text(), flags=re.MULTILINE)
    return set(heads)


def test_no_citation_of_a_document_outside_the_repo() -> None:
    found = [
        f"{p.relative_to(ROOT)}: {name!r}"
        for p in sources()
        for name in OUTSIDE
        if name in p.read_text().lower()
    ]
    assert found == []


def test_every_cited_section_exists_in_docs_wire_md() -> None:
    sections = wire_sections()
    assert {"2.2", "3.6", "4.3", "4.4", "5", "6"} <= sections
    cited: dict[str, set[str]] = {}
    for p in sources():
        text = p.read_text()
        numbers = set(SECTION.findall(text))
        if numbers:
            # A file that cites a section names the document it means.
            assert "docs/wire.md" in text, p.relative_to(ROOT)
            cited[str(p.relative_to(ROOT))] = numbers - sections
    assert cited, "no citation found: the scan is broken"
    assert {path: missing for path, missing in cited.items() if missing} == {}


def test_readme_gives_pip_users_commands_the_wheel_has() -> None:
    """Issue 9 item 13: the README is the package's description on PyPI, where ``scripts/``
    does not exist; its first commands must work from a pip install."""
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Two commands on a fresh machine", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in setup.splitlines() if line.startswith("    ")]
    pip_lines = commands[: commands.index(next(c for c in commands if c.startswith("scripts/")))]
    assert pip_lines and pip_lines[0].startswith("pip install 'verk-compat[embedded]'")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "embedded" in extras["optional-dependencies"]
    assert any(line.startswith("verk-compat demo") for line in pip_lines)
    for script in re.findall(r"^\s+(scripts/\w+)", setup, flags=re.MULTILINE):
        assert (ROOT / script).is_file(), script  # the clone's commands stay true
