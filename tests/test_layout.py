"""docs/layout.md's tree ("How the code is laid out") matches the files: every module is named there, every name
there exists."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = ROOT / "docs" / "layout.md"
PACKAGES = ("artstyle", "artstyle_app", "bench")


def layout_tree(page: str) -> list[str]:
    """The paths the tree names: the page's first fenced block, one entry a line, two spaces of indentation per
    folder level, the name first (a folder ends with "/") and its description after it."""
    block = page.split("```", 2)[1]
    paths: list[str] = []
    folders: list[str] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        folders = folders[:depth]
        paths.append("".join(folders) + name)
        if name.endswith("/"):
            folders.append(name)
    return paths


def test_the_tree_parses_nested_folders():
    text = "# How the code is laid out\n\nThe tree.\n\n```\na/   x\n  b.py   y\n  c/   z\n    d.py   w\ne.py   v\n```\n"
    assert layout_tree(text) == ["a/", "a/b.py", "a/c/", "a/c/d.py", "e.py"]


def test_every_name_in_the_tree_exists():
    paths = layout_tree(LAYOUT.read_text(encoding="utf-8"))
    assert len(paths) == len(set(paths)), "a name appears twice"
    missing = [p for p in paths if not (ROOT / p).exists() or p.endswith("/") != (ROOT / p).is_dir()]
    assert not missing, f"docs/layout.md names what is not there: {missing}"


def test_every_module_is_in_the_tree():
    paths = set(layout_tree(LAYOUT.read_text(encoding="utf-8")))
    modules = sorted(
        str(p.relative_to(ROOT))
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert "bench/research/schedule.py" in modules  # research rounds are found too
    unnamed = [m for m in ["app.py", *modules] if m not in paths]
    assert not unnamed, f"docs/layout.md's tree does not name: {unnamed}"
