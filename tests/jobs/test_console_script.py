"""``customerio-sink <job> [flags]`` (the console script) and the install extras."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from streaming_jobs import JOBS, cli

ROOT = Path(__file__).resolve().parents[2]


def test_usage_lists_every_job(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(job in out for job in JOBS)
    assert cli.run([]) == 2  # no job named: usage, and the exit code of bad arguments


def test_unknown_job_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["sync_everything"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no job 'sync_everything'" in err


@pytest.mark.parametrize("name", ["sync-events", "sync_events"])
def test_the_jobs_exit_code_passes_through(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("CUSTOMERIO_API_KEY", "k")
    assert cli.run([name, "--help"]) == 0
    assert "--event-column" in capsys.readouterr().out
    argv = [name, "--source", "t", "--event", "e", "--max-body-bytes", "8000"]
    assert cli.run(argv) == 2
    assert "--max-body-bytes: 8000 is out of range" in capsys.readouterr().err


def test_the_entry_point_raises_on_failure_for_a_wheel_task(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Databricks' python_wheel_task ignores a returned code: a failure must raise.
    with pytest.raises(SystemExit) as stopped:
        cli.main(["sync_everything"])
    assert stopped.value.code == 2
    with pytest.raises(SystemExit) as stopped:
        cli.main([])
    assert stopped.value.code == 2
    assert cli.main(["--help"]) == 0  # success returns: nothing raised
    assert "jobs:" in capsys.readouterr().out


def test_installed_console_script_runs_a_job() -> None:
    script = Path(sys.executable).parent / "customerio-sink"  # installed by make dev / pip
    result = subprocess.run(
        [str(script), "replay_dead_letters", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "--drain-retry-queue" in result.stdout


def _setup_extras() -> dict[str, list[str]]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    values = {
        t.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and isinstance(node.value, ast.List)
    }
    return {"spark": values["SPARK"], "local": values["LOCAL"], "dev": values["DEV"]}


def test_cluster_installs_never_replace_the_runtimes_spark() -> None:
    extras = _setup_extras()
    for name in ("spark", "dev"):
        assert not [r for r in extras[name] if r.startswith(("pyspark", "delta-spark"))], name
    pins = [r for r in extras["local"] if "==" in r]
    assert {p.split("==")[0] for p in pins} == {"pyspark", "delta-spark"}
    assert '".[local,dev,docs]"' in (ROOT / "Makefile").read_text()
