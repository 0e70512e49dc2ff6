"""What every notebook of the suite needs, in one place, so the notebooks hold no logic.

A notebook declares its widgets on ``dbutils`` — Databricks' own, or
:func:`~customerio_sink.notebook.widgets.local_dbutils` elsewhere — and calls
:func:`setup_notebook`, which reads the common widgets (``work_dir``, ``job``,
``secret_scope``, ``secret_key``, ``region``), gets the session (the cluster's, or a local one
with Delta), reads the key from the secret scope, and says where calls go: the region on
Databricks, the embedded emulator (started with the same key) elsewhere. The cleanup cell calls
:meth:`NotebookSetup.cleanup`, which stops what the notebook started and leaves the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customerio_sink.client.secrets import SecretKey
from customerio_sink.errors import ConfigError
from customerio_sink.notebook.widgets import LocalDbutils

__all__ = ["MARKER", "NotebookSetup", "setup_notebook"]

#: Written into each notebook's own work directory, so a re-run may clear it (and nothing else).
MARKER = ".customerio-sink-notebook"


@dataclass
class NotebookSetup:
    """The session, the work directory and where calls go, for one notebook run."""

    name: str
    job: str
    on_databricks: bool
    work: str
    temp_work: bool
    region: str = "us"
    spark: Any = None
    emulator: Any = None
    api_key: SecretKey | None = field(default=None, repr=False)
    app_api_key: SecretKey | None = field(default=None, repr=False)
    target: dict[str, Any] = field(default_factory=dict)
    display: Callable[[Any], None] | None = None
    _closing: list[Any] = field(default_factory=list, repr=False)

    @property
    def ledger_path(self) -> str:
        """The notebook's ledger directory (``<work>/ledger``)."""
        return f"{self.work}/ledger"

    def show(self, df: Any, n: int = 20) -> None:
        """``display()`` on Databricks, a text table locally."""
        if self.on_databricks and self.display is not None:
            self.display(df.limit(n))
        else:
            df.show(n, truncate=False)

    def show_figure(self, fig: Any, name: str) -> str | None:
        """``display()`` a matplotlib figure on Databricks; elsewhere save it as a PNG in the
        work dir and return its path."""
        if self.on_databricks and self.display is not None:
            self.display(fig)
            return None
        path = f"{self.work}/{name}.png"
        fig.savefig(path, dpi=90)
        print(f"saved {name}.png in the work dir")
        return path

    def client(self, **settings: Any) -> Any:
        """A :class:`~customerio_sink.client.pipelines.CustomerIOClient` for this notebook's target
        (the
        cleanup cell closes it); ``settings`` are the client's keyword arguments."""
        from customerio_sink.client.pipelines import CustomerIOClient

        made = CustomerIOClient(self._key(), **self.target, **settings)
        self._closing.append(made)
        return made

    def app_client(self, **settings: Any) -> Any:
        """An :class:`~customerio_sink.reporting.app_api.AppAPIClient` (App API key, region or
        emulator)."""
        from customerio_sink.reporting.app_api import AppAPIClient

        if self.app_api_key is None:
            raise ConfigError("setup_notebook(..., app_api=True) reads the App API key")
        local = self.emulator is not None
        where = {"endpoint": self.emulator.url} if local else {"region": self.region}
        made = AppAPIClient(self.app_api_key, **where, **settings)
        self._closing.append(made)
        return made

    def _key(self) -> SecretKey:
        if self.api_key is None:
            raise ConfigError("no Pipelines key was read")
        return self.api_key

    def active_streams(self) -> list[Any]:
        """This notebook's running streams (query names starting with its job name)."""
        if self.spark is None:
            return []
        return [q for q in self.spark.streams.active if (q.name or "").startswith(self.job)]

    def cleanup(self) -> None:
        """Stop this notebook's streams, close its clients, stop the emulator and remove a
        temporary work dir. The Spark session stays (on a cluster it is the cluster's)."""
        for query in self.active_streams():
            query.stop()
        for made in self._closing:
            made.close()
        self._closing.clear()
        if self.emulator is not None:
            self.emulator.stop()
        if self.temp_work:
            shutil.rmtree(self.work, ignore_errors=True)
        print(f"cleaned up {self.name}: streams stopped, emulator stopped")


def _work_dir(root: str, name: str) -> tuple[str, bool]:
    """``<root>/<name>``, cleared if an earlier run of this notebook made it; a new temp dir
    when ``root`` is empty."""
    if not root:
        return tempfile.mkdtemp(prefix=f"cio-nb-{name}-"), True
    work = Path(root) / name
    if work.exists() and any(work.iterdir()):
        if not (work / MARKER).exists():
            raise ConfigError(f"work_dir: {work} is not empty and was not made by a notebook")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / MARKER).write_text(f"work dir of notebook {name}\n", encoding="utf-8")
    return str(work), False


def setup_notebook(
    name: str,
    dbutils: Any,
    *,
    display: Callable[[Any], None] | None = None,
    spark: bool = True,
    app_api: bool = False,
) -> NotebookSetup:
    """Read the common widgets, get the session, read the key(s), decide where calls go.

    Widgets read: ``work_dir`` (a ``/Volumes/...`` directory on Databricks; locally empty means
    a temp dir), ``job``, ``secret_scope``, ``secret_key``, ``region``, and with ``app_api``
    ``app_secret_key``. The notebook works in ``<work_dir>/<name>``.

    Raises:
        ConfigError: ``work_dir`` empty on Databricks, a missing secret, a bad region.
    """
    from customerio_sink.client.regions import get_region

    on_databricks = not isinstance(dbutils, LocalDbutils)
    get = dbutils.widgets.get
    root = get("work_dir").strip()
    if on_databricks and not root:
        raise ConfigError("set the work_dir widget to a /Volumes/... directory")
    region = get_region(get("region") or "us").name
    scope = get("secret_scope")
    api_key = SecretKey(dbutils.secrets.get(scope=scope, key=get("secret_key")))
    app_key = (
        SecretKey(dbutils.secrets.get(scope=scope, key=get("app_secret_key"))) if app_api else None
    )
    work, temp_work = _work_dir(root, name)
    setup = NotebookSetup(
        name=name,
        job=get("job"),
        on_databricks=on_databricks,
        work=work,
        temp_work=temp_work,
        region=region,
        api_key=api_key,
        app_api_key=app_key,
        display=display,
    )
    if spark:
        from customerio_sink.spark.session import get_spark

        setup.spark = get_spark()
    if on_databricks:
        setup.target = {"region": region}
    else:
        from customerio_sink.emulator import Emulator

        app_keys = (app_key.reveal(),) if app_key is not None else ("app-key",)
        setup.emulator = Emulator(keys=(api_key.reveal(),), app_api_keys=app_keys).start()
        setup.target = {"endpoint": setup.emulator.url}
    where = "Customer.io, region " + region if on_databricks else "the local emulator"
    print(f"{name}: job {setup.job!r}, sending to {where}; key {api_key!r}")
    if not temp_work:
        print(f"work dir: {work}")
    return setup


def environment_summary() -> dict[str, str]:
    """Where this notebook runs: Databricks runtime, Python, Spark and the package version."""
    import platform

    from customerio_sink.__version__ import __version__

    out = {
        "databricks_runtime": os.environ.get("DATABRICKS_RUNTIME_VERSION", "(not Databricks)"),
        "python": platform.python_version(),
        "customerio_sink": __version__,
    }
    try:
        import pyspark

        out["pyspark"] = pyspark.__version__
    except ImportError:  # a client-only install
        out["pyspark"] = "(not installed)"
    return out
