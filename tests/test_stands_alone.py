"""The project stands alone: a user's clone or an installed wheel has nothing beside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "build", "dist", "bench-output", "demo-output", "node_modules"}
TEXT = {".py", ".md", ".toml", ".cfg", ".json", ".yml", ".yaml", ".txt", ".ipynb", ".sh", ""}
# A path out of the project into a folder named "shared" (built so this file does not match).
OUTSIDE = re.compile(r"\.\./" + "shared|" + "shared/" + "reference")


def project_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & SKIP_DIRS or any(p.startswith(".") and p != ".ci" for p in parts):
            continue
        if path.is_file() and (path.suffix in TEXT or path.name in {"Makefile", "run"}):
            files.append(path)
    return files


def test_no_project_file_reads_a_folder_beside_the_project() -> None:
    files = project_files()
    assert any(f.name == "setup.py" for f in files) and len(files) > 50
    offenders = [
        str(f.relative_to(ROOT))
        for f in files
        if "__pycache__" not in f.parts and OUTSIDE.search(f.read_text(errors="replace"))
    ]
    assert offenders == []
