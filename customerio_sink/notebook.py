"""What every notebook of the suite needs, in one place, so the notebooks hold no logic.

Parameters come from ``dbutils.widgets`` on Databricks and from ``NB_<NAME>`` environment
variables elsewhere; the session is the cluster's (or a local one with Delta); calls go to the
region with the key from a secret scope on Databricks, or to the embedded emulator locally.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from customerio_sink.errors import ConfigError
from customerio_sink.secrets import SecretKey

__all__ = ["NotebookSetup", "notebook_params", "setup_notebook"]

#: The emulator's default test keys (Pipelines, App API): the only keys a local run uses.
LOCAL_KEY = "test-key"
LOCAL_APP_KEY = "app-key"


def notebook_params(widgets: dict[str, str], dbutils: Any = None) -> tuple[bool, dict[str, str]]:
    """``(on_databricks, params)``: widgets (created with their defaults) on Databricks, else
    the defaults overridden by ``NB_<NAME>`` environment variables."""
    if dbutils is not None:
        for name, default in widgets.items():
            dbutils.widgets.text(name, default)
        return True, {name: dbutils.widgets.get(name) for name in widgets}
    return False, {name: os.environ.get(f"NB_{name.upper()}", v) for name, v in widgets.items()}


@dataclass
class NotebookSetup:
    """The session, the work directory and where calls go, for one notebook run."""

    on_databricks: bool
    params: dict[str, str]
    work: str
    temp_work: bool
    spark: Any = None
    emulator: Any = None
    api_key: SecretKey | None = field(default=None, repr=False)
    target: dict[str, Any] = field(default_factory=dict)
    display: Callable[[Any], None] | None = None

    def show(self, df: Any, n: int = 20) -> None:
        """``display()`` on Databricks, a text table locally."""
        if self.on_databricks and self.display is not None:
            self.display(df.limit(n))
        else:
            df.show(n, truncate=False)

    def show_figure(self, fig: Any, name: str) -> str | None:
        """``display()`` a matplotlib figure on Databricks; locally save it as a PNG."""
        if self.on_databricks and self.display is not None:
            self.display(fig)
            return None
        path = f"{self.work}/{name}.png"
        fig.savefig(path, dpi=90)
        print(f"saved {path}")
        return path

    def cleanup(self) -> None:
        """Stop the emulator and remove a temporary work directory."""
        if self.emulator is not None:
            self.emulator.stop()
        if self.temp_work:
            shutil.rmtree(self.work, ignore_errors=True)


def setup_notebook(
    name: str,
    params: dict[str, str],
    *,
    on_databricks: bool,
    display: Callable[[Any], None] | None = None,
    spark: bool = True,
) -> NotebookSetup:
    """Session, work dir (``work_dir`` param; a temp dir locally when empty) and target.

    On Databricks the key comes from the ``secret_scope``/``secret_key`` params and calls go to
    the ``region``; locally the embedded emulator is started (test key ``test-key``).
    """
    work = params.get("work_dir", "")
    if on_databricks and not work:
        raise ConfigError("set the work_dir widget to a /Volumes/... directory")
    setup = NotebookSetup(
        on_databricks=on_databricks,
        params=params,
        work=work or tempfile.mkdtemp(prefix=f"cio-nb-{name}-"),
        temp_work=not work,
        display=display,
    )
    if spark:
        from customerio_sink.spark.session import get_spark

        setup.spark = get_spark()
    if on_databricks:
        from customerio_sink.spark.options import resolve_api_key

        setup.api_key = resolve_api_key(
            secret_scope=params.get("secret_scope"), secret_key=params.get("secret_key")
        )
        setup.target = {"region": params.get("region") or None}
    else:
        from customerio_sink.emulator import Emulator

        setup.emulator = Emulator(keys=(LOCAL_KEY,), app_api_keys=(LOCAL_APP_KEY,)).start()
        setup.api_key = SecretKey(LOCAL_KEY)
        setup.target = {"endpoint": setup.emulator.url}
    return setup
