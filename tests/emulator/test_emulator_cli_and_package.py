"""The command line, and the emulator's independence from the rest of the package."""

from __future__ import annotations

import ast
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import customerio_sink.emulator as emulator_package
from customerio_sink.emulator.__main__ import main

PACKAGE_DIR = Path(emulator_package.__file__).parent


def test_help_documents_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--port",
        "--host",
        "--key",
        "--fast",
        "--rate-limit",
        "--rate-window",
        "--openapi",
        "--strict",
        "--app-key",
        "--builtin-rules",
    ):
        assert option in out


def test_cli_serves_until_interrupted_and_prints_final_stats() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "customerio_sink.emulator",
            "--port",
            "0",
            "--key",
            "cli-key",
            "--rate-limit",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Customer.io emulator listening on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        assert process.stdout.readline().startswith("validation: ")
        call = {"type": "track", "userId": "u1", "event": "x", "messageId": "m1"}
        response = requests.post(f"{url}/v1/batch", json={"batch": [call]}, auth=("cli-key", ""))
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    stats = json.loads(out.strip().splitlines()[-1])
    assert (stats["requests"], stats["accepted"], stats["status_counts"]) == (1, 1, {"200": 1})


def test_public_names() -> None:
    assert sorted(emulator_package.__all__) == sorted(
        [
            "ADJUSTMENTS",
            "SEMANTIC_EVENTS",
            "Emulator",
            "EmulatorStats",
            "FaultConfig",
            "MessageValidator",
            "Rejection",
            "find_openapi_file",
        ]
    )
    for name in emulator_package.__all__:
        assert getattr(emulator_package, name) is not None


def test_importing_the_emulator_never_imports_pyspark() -> None:
    code = "import sys, customerio_sink.emulator; print('pyspark' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_emulator_imports_no_other_package_module() -> None:
    allowed = ("customerio_sink.emulator", "customerio_sink.__version__")
    for source in PACKAGE_DIR.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("customerio_sink"):
                    assert name.startswith(allowed), f"{source.name} imports {name}"
                assert not name.startswith("pyspark"), f"{source.name} imports {name}"
