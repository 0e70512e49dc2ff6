"""The notebooks' shared setup: the local ``dbutils`` stand-in and ``setup_notebook``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from customerio_sink.errors import ConfigError
from customerio_sink.notebook.suite import MARKER, setup_notebook
from customerio_sink.notebook.widgets import LocalDbutils, local_dbutils, secret_env_name


def _declared(dbutils: LocalDbutils, work_dir: str = "") -> LocalDbutils:
    dbutils.widgets.text("work_dir", work_dir)
    dbutils.widgets.text("job", "nb-test")
    dbutils.widgets.text("secret_scope", "customerio")
    dbutils.widgets.text("secret_key", "pipelines-key")
    dbutils.widgets.dropdown("region", "us", ["us", "eu"])
    return dbutils


def test_widgets_take_env_over_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    dbutils = _declared(local_dbutils())
    monkeypatch.setenv("NB_JOB", "from-env")
    assert dbutils.widgets.get("job") == "from-env"
    assert dbutils.widgets.get("region") == "us"
    monkeypatch.setenv("NB_REGION", "mars")
    with pytest.raises(ConfigError, match="not one of"):
        dbutils.widgets.get("region")
    with pytest.raises(ConfigError, match="not declared"):
        dbutils.widgets.get("nope")


def test_secrets_come_from_env_else_the_emulator_test_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = local_dbutils().secrets
    assert secret_env_name("customerio", "pipelines-key") == "CIO_SECRET_CUSTOMERIO_PIPELINES_KEY"
    monkeypatch.delenv("CIO_SECRET_CUSTOMERIO_PIPELINES_KEY", raising=False)
    assert secrets.get("customerio", "pipelines-key") == "test-key"
    monkeypatch.setenv("CIO_SECRET_CUSTOMERIO_PIPELINES_KEY", "from-env-key")
    assert secrets.get("customerio", "pipelines-key") == "from-env-key"
    with pytest.raises(ConfigError, match="CIO_SECRET_OTHER_PROD_KEY"):
        secrets.get("other", "prod-key")


def test_the_stand_in_refuses_to_run_on_databricks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")
    with pytest.raises(ConfigError, match="dbutils"):
        local_dbutils()


def test_local_setup_starts_the_emulator_with_the_secret_and_cleans_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CIO_SECRET_CUSTOMERIO_PIPELINES_KEY", "k-from-the-secret")
    nb = setup_notebook("t", _declared(local_dbutils()), spark=False)
    try:
        assert nb.target == {"endpoint": nb.emulator.url} and nb.temp_work
        assert "k-from-the-secret" not in repr(nb)
        client = nb.client()
        assert client.identify("u1", {"plan": "pro"}).status == 200  # the emulator took the key
        assert nb.emulator.people["u1"]["traits"] == {"plan": "pro"}
    finally:
        nb.cleanup()
    assert not os.path.exists(nb.work)


def test_a_work_dir_is_per_notebook_and_cleared_only_if_a_notebook_made_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NB_WORK_DIR", raising=False)
    dbutils = _declared(local_dbutils(), str(tmp_path))
    nb = setup_notebook("nb-a", dbutils, spark=False)
    nb.cleanup()
    work = tmp_path / "nb-a"
    assert nb.work == str(work) and (work / MARKER).exists()
    (work / "old-table").mkdir()
    setup_notebook("nb-a", dbutils, spark=False).cleanup()  # a re-run starts clean
    assert not (work / "old-table").exists()
    (tmp_path / "nb-b").mkdir()
    (tmp_path / "nb-b" / "someone-elses").write_text("x")
    with pytest.raises(ConfigError, match="not made by a notebook"):
        setup_notebook("nb-b", dbutils, spark=False)


def test_databricks_needs_a_work_dir() -> None:
    class Widgets:
        def get(self, name: str) -> str:
            return {"region": "us"}.get(name, "")

    class Databricks:  # not a LocalDbutils: treated as Databricks' own dbutils
        widgets = Widgets()

    with pytest.raises(ConfigError, match="work_dir"):
        setup_notebook("t", Databricks(), spark=False)
