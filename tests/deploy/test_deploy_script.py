"""scripts/deploy.sh: validate then deploy; prod only when confirmed and from its release tag.

The Databricks CLI is replaced by a stub that records its arguments (no workspace here); the
script runs in a throwaway git repository holding the files it reads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION_FILE = "customerio_sink/__version__.py"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "customerio_sink").mkdir()
    shutil.copy(ROOT / "scripts" / "deploy.sh", repo / "scripts" / "deploy.sh")
    shutil.copy(ROOT / VERSION_FILE, repo / VERSION_FILE)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "release")
    return repo


def _version() -> str:
    text = (ROOT / VERSION_FILE).read_text(encoding="utf-8")
    return text.split('__version__ = "')[1].split('"')[0]


def _run(repo: Path, tmp_path: Path, *args: str, cli: bool = True) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / ("bin" if cli else "no-cli")
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "cli.log"
    if cli:
        stub = bin_dir / "databricks"
        stub.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n')
        stub.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["bash", str(repo / "scripts" / "deploy.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "cli.log"
    return log.read_text().splitlines() if log.exists() else []


def test_dev_validates_then_deploys(repo: Path, tmp_path: Path) -> None:
    done = _run(repo, tmp_path, "dev")
    assert done.returncode == 0, done.stderr
    assert [c for c in _calls(tmp_path) if c != "bundle --help"] == [
        "bundle validate -t dev",
        "bundle deploy -t dev",
    ]


def test_validate_only_needs_no_confirmation(repo: Path, tmp_path: Path) -> None:
    done = _run(repo, tmp_path, "prod", "--validate-only")
    assert done.returncode == 0, done.stderr
    assert "bundle validate -t prod" in _calls(tmp_path)
    assert not [c for c in _calls(tmp_path) if "deploy" in c]


def test_prod_is_refused_without_the_flag(repo: Path, tmp_path: Path) -> None:
    done = _run(repo, tmp_path, "prod")
    assert done.returncode == 2
    assert done.stderr.strip() == "deploy: refusing to deploy to prod without --confirm-prod"
    assert _calls(tmp_path) == []


def test_prod_is_refused_off_its_release_tag(repo: Path, tmp_path: Path) -> None:
    done = _run(repo, tmp_path, "prod", "--confirm-prod")
    assert done.returncode == 2
    assert f"HEAD is not the release tag v{_version()} (found: no tag)" in done.stderr
    _git(repo, "tag", "v0.0.0-not-this")
    assert "found: v0.0.0-not-this" in _run(repo, tmp_path, "prod", "--confirm-prod").stderr
    assert _calls(tmp_path) == []


def test_prod_from_its_release_tag_deploys(repo: Path, tmp_path: Path) -> None:
    _git(repo, "tag", f"v{_version()}")
    done = _run(repo, tmp_path, "prod", "--confirm-prod")
    assert done.returncode == 0, done.stderr
    assert [c for c in _calls(tmp_path) if c != "bundle --help"] == [
        "bundle validate -t prod",
        "bundle deploy -t prod",
    ]


def test_bad_arguments_and_a_missing_cli(repo: Path, tmp_path: Path) -> None:
    assert _run(repo, tmp_path, "staging").returncode == 2
    assert _run(repo, tmp_path, "dev", "--force").returncode == 2
    done = _run(repo, tmp_path, "dev", cli=False)
    assert done.returncode == 3 and "no Databricks CLI with 'bundle'" in done.stderr
    assert os.access(ROOT / "scripts" / "deploy.sh", os.X_OK)
