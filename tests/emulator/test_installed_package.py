"""The installed package, not the source tree, validates with the OpenAPI file it ships.

Builds a wheel from a copy of the sources, installs it into a folder of its own, and runs the
emulator from there in a working directory with nothing beside it: the validation source must be
the file inside the installed package, and the schema must reject what the official file rejects.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = "customerio_sink/emulator/data/customerio-pipelines-openapi.json"

CHECK = """
import json, customerio_sink, customerio_sink.emulator as e
from customerio_sink.emulator import Emulator
v = e.MessageValidator()
ok = {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m1"}
# Only the file's schema knows that context.ip is a string (the built-in rules do not).
bad = {"type": "identify", "userId": "u1", "messageId": "m2", "context": {"ip": 5}}
with Emulator(keys=("k",)) as emu:
    source = emu.validation_source
print(json.dumps({"package": customerio_sink.__file__, "source": source,
                  "ok": v.check_message(ok, "track"), "bad": v.check_message(bad, "identify")}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("customerio_sink", "streaming_jobs", "checkpoints_template"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(src)],
        check=True,
        timeout=300,
    )
    (wheel,) = (work / "dist").glob("customerio_sink-*.whl")
    assert SPEC in zipfile.ZipFile(wheel).namelist()
    site = work / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=300
    )
    return site


def test_installed_wheel_validates_with_its_packaged_openapi_file(
    installed: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(installed), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(out["package"]).is_relative_to(installed)
    assert out["source"] == f"openapi:{(installed / SPEC).resolve()}"
    assert out["ok"] == []
    assert out["bad"] == ["'context.ip': 5 is not of type 'string'"]
