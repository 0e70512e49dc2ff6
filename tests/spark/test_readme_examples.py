"""The README's front-door examples run as written (so the front door stays true)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.spark

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE = re.compile(r"<!-- readme-example: (\S+) -->\s*```python\n(.*?)```", re.S)


def _examples() -> dict[str, str]:
    return dict(EXAMPLE.findall(README.read_text(encoding="utf-8")))


def test_readme_has_both_front_door_examples() -> None:
    assert set(_examples()) == {"foreachBatch", "datasource", "batch"}


@pytest.mark.parametrize("name", ["foreachBatch", "datasource", "batch"])
def test_readme_example_runs(spark: Any, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = _examples()[name]
    exec(compile(code, f"README.md[{name}]", "exec"), {"__name__": f"readme_{name}"})
    if name == "foreachBatch":
        assert "1 acknowledged" in capsys.readouterr().out
    # One import: nothing from the package but ``customerio_sink as cio``.
    imports = [ln for ln in code.splitlines() if "customerio_sink" in ln and "import" in ln]
    assert imports == ["import customerio_sink as cio"]
