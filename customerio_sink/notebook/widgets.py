"""A stand-in for Databricks' ``dbutils.widgets`` and ``dbutils.secrets`` outside Databricks.

The notebooks are written against ``dbutils``: on Databricks they use the real one; in Jupyter,
VS Code or the test suite they use :func:`local_dbutils`, which answers the same calls:

* ``widgets.text/dropdown/combobox(name, default, ...)`` declare a widget; ``widgets.get(name)``
  returns ``$NB_<NAME>`` (the name in capitals) when that environment variable is set, else the
  default. A dropdown refuses a value outside its choices, as Databricks does.
* ``secrets.get(scope, key)`` returns ``$CIO_SECRET_<SCOPE>_<KEY>`` (scope and key in capitals,
  every other character an underscore) when set. Otherwise, for the two secret names the
  notebooks use by default, the embedded emulator's test keys (a local run only ever talks to
  the emulator); any other name raises :class:`ConfigError` naming the variable to set.

Neither prints a value: a secret is returned to the caller, which wraps it in a ``SecretKey``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from customerio_sink.errors import ConfigError

__all__ = [
    "LOCAL_SECRETS",
    "LocalDbutils",
    "LocalSecrets",
    "LocalWidgets",
    "local_dbutils",
    "on_databricks",
    "secret_env_name",
]

#: The secret names the notebooks default to, and the emulator's test key each stands for
#: locally (``test-key`` for Data Pipelines, ``app-key`` for the App API).
LOCAL_SECRETS = {"pipelines-key": "test-key", "app-api-key": "app-key"}


def on_databricks() -> bool:
    """True on a Databricks cluster (the runtime sets ``DATABRICKS_RUNTIME_VERSION``)."""
    return bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))


def secret_env_name(scope: str, key: str) -> str:
    """``CIO_SECRET_<SCOPE>_<KEY>``: the environment variable that stands for a secret."""
    return re.sub(r"[^A-Z0-9]", "_", f"CIO_SECRET_{scope}_{key}".upper())


class LocalWidgets:
    """``dbutils.widgets`` outside Databricks: declared defaults, overridden by ``NB_<NAME>``."""

    def __init__(self) -> None:
        self._defaults: dict[str, str] = {}
        self._choices: dict[str, tuple[str, ...]] = {}

    # Parameter and method names are Databricks' own (defaultValue, getAll), so that notebook
    # code written for dbutils runs unchanged.
    def text(self, name: str, defaultValue: str, label: str | None = None) -> None:
        self._defaults[name] = defaultValue

    def dropdown(
        self,
        name: str,
        defaultValue: str,
        choices: Sequence[str],
        label: str | None = None,
    ) -> None:
        if defaultValue not in choices:
            raise ConfigError(f"widget {name}: default {defaultValue!r} is not one of {choices}")
        self._defaults[name] = defaultValue
        self._choices[name] = tuple(choices)

    def combobox(
        self,
        name: str,
        defaultValue: str,
        choices: Sequence[str],
        label: str | None = None,
    ) -> None:
        self._defaults[name] = defaultValue

    def get(self, name: str) -> str:
        """The widget's value; :class:`ConfigError` for a widget never declared."""
        if name not in self._defaults:
            raise ConfigError(f"widget {name!r} was not declared (declare it with text/dropdown)")
        value = os.environ.get(f"NB_{name.upper()}", self._defaults[name])
        choices = self._choices.get(name)
        if choices is not None and value not in choices:
            raise ConfigError(f"widget {name}: {value!r} is not one of {list(choices)}")
        return value

    def getAll(self) -> dict[str, str]:
        return {name: self.get(name) for name in self._defaults}

    def removeAll(self) -> None:
        self._defaults.clear()
        self._choices.clear()


class LocalSecrets:
    """``dbutils.secrets`` outside Databricks: environment variables, else emulator test keys."""

    def get(self, scope: str, key: str) -> str:
        name = secret_env_name(scope, key)
        value = os.environ.get(name, "").strip()
        if value:
            return value
        if key in LOCAL_SECRETS:
            return LOCAL_SECRETS[key]
        raise ConfigError(f"secret {scope}/{key}: set ${name} (outside Databricks)")


class LocalDbutils:
    """The two parts of ``dbutils`` the notebooks use."""

    def __init__(self) -> None:
        self.widgets = LocalWidgets()
        self.secrets = LocalSecrets()

    def __repr__(self) -> str:
        return "LocalDbutils(widgets from $NB_<NAME>, secrets from $CIO_SECRET_<SCOPE>_<KEY>)"


def local_dbutils() -> LocalDbutils:
    """The stand-in; refuses to run on Databricks, where the real ``dbutils`` must be used."""
    if on_databricks():
        raise ConfigError("on Databricks use the notebook's own dbutils, not local_dbutils()")
    return LocalDbutils()
