"""The notebooks' shared setup: parameters from widgets or NB_* variables."""

from __future__ import annotations

from typing import Any

import pytest

from customerio_sink.notebook import notebook_params, setup_notebook


class _Widgets:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def text(self, name: str, default: str) -> None:
        self.values.setdefault(name, default)

    def get(self, name: str) -> str:
        return self.values[name]


class _DBUtils:
    def __init__(self) -> None:
        self.widgets = _Widgets()


def test_params_come_from_env_locally_and_widgets_on_databricks(monkeypatch: Any) -> None:
    monkeypatch.setenv("NB_JOB", "from-env")
    assert notebook_params({"job": "default", "region": "us"}) == (
        False,
        {"job": "from-env", "region": "us"},
    )
    dbutils = _DBUtils()
    dbutils.widgets.values["region"] = "eu"  # set by the user in the widget bar
    assert notebook_params({"job": "default", "region": "us"}, dbutils) == (
        True,
        {"job": "default", "region": "eu"},
    )


def test_local_setup_starts_the_emulator_and_cleans_up() -> None:
    nb = setup_notebook("t", {"work_dir": ""}, on_databricks=False, spark=False)
    assert nb.target == {"endpoint": nb.emulator.url} and nb.temp_work
    assert "test-key" not in repr(nb)
    nb.cleanup()
    import os

    assert not os.path.exists(nb.work)


def test_databricks_needs_a_work_dir() -> None:
    from customerio_sink.errors import ConfigError

    with pytest.raises(ConfigError, match="work_dir"):
        setup_notebook("t", {"work_dir": ""}, on_databricks=True, spark=False)
