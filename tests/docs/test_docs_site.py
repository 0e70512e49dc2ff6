"""The documentation site: it builds strictly, and it keeps up with the code.

* ``mkdocs build --strict`` passes (a broken link, anchor or reference is a warning, so a failure);
* every public name has a docstring, and the API reference shows the name with that docstring;
  so does every public member (method or property) of a public class, since the reference
  leaves out a member without one;
* every module-level function or class of the package without a leading ``_`` has a docstring;
* every error class defined in the package has a section in the troubleshooting guide;
* every test the guarantees page names exists.

Each rule is a small function returning what breaks it; the ``*_catches_*`` tests feed each one a
case that breaks it, so a rule that stopped looking would fail here too.
"""

from __future__ import annotations

import ast
import html
import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

import customerio_sink

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# The modules users touch: every name of their __all__ is public and must be in the reference.
USER_MODULES = (
    "customerio_sink.spark.api",
    "customerio_sink.spark.mappings",
    "customerio_sink.client.pipelines",
    "customerio_sink.errors",
    "customerio_sink.messages.rules",
    "customerio_sink.emulator",
    "customerio_sink.migrate.exports",
    "customerio_sink.migrate.backfill",
    "customerio_sink.migrate.rekey",
    "customerio_sink.migrate.cutover",
    "customerio_sink.catalog",
)


# --- the rules -----------------------------------------------------------------------------------


def public_names() -> list[tuple[str, str]]:
    """(module, name) of every public name: ``cio.__all__``, ``cio.migrate.__all__`` (each at the
    module that defines it) and the ``__all__`` of the modules users touch."""
    from customerio_sink import migrate

    names = [
        (f"customerio_sink.{customerio_sink._WHERE[n]}", n)
        for n in customerio_sink.__all__
        if n != "__version__"
    ]
    names += [(f"customerio_sink.migrate.{migrate._WHERE[n]}", n) for n in migrate.__all__]
    for module in USER_MODULES:
        names += [(module, n) for n in importlib.import_module(module).__all__]
    return sorted(set(names))


def _member(value: Any) -> Any:
    """The function or property behind a class attribute, or None for anything else."""
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    return value if inspect.isfunction(value) or isinstance(value, property) else None


def public_members(names: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(module, ``Class.member``) of every method and property a public class defines itself
    (inherited ones are left to the class that defines them) whose name has no leading ``_``."""
    found = []
    for module, name in names:
        cls = getattr(importlib.import_module(module), name)
        if inspect.isclass(cls):
            found += [
                (module, f"{name}.{member}")
                for member, value in vars(cls).items()
                if not member.startswith("_") and _member(value) is not None
            ]
    return sorted(found)


def _resolve(module: str, dotted: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in dotted.split("."):
        obj = vars(obj)[part] if inspect.isclass(obj) else getattr(obj, part)
    return _member(obj) if _member(obj) is not None else obj


def _defined_at(module: str, dotted: str) -> str:
    """Where ``module.dotted`` is defined: the reference may show it there instead."""
    obj = getattr(importlib.import_module(module), dotted.split(".")[0])
    return f"{getattr(obj, '__module__', module)}.{dotted}"


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _first_sentence(doc: str) -> list[str]:
    paragraph = inspect.cleandoc(doc).split("\n\n")[0]
    return _words(re.split(r"(?<=[a-z0-9)`'])[.:;](\s|$)", paragraph)[0])[:12]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def own_docstring(module: str, name: str) -> str | None:
    """The docstring written for ``module.name`` itself (not inherited; an attribute's docstring
    is the string literal after its assignment, read by griffe as the reference does); ``name``
    may be ``Class.member``."""
    obj = _resolve(module, name)
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__") or None
    if inspect.isroutine(obj) or isinstance(obj, property):
        return obj.__doc__ or None
    return _attribute_docstring(module, name)


def _attribute_docstring(module: str, name: str) -> str | None:
    import griffe

    loaded = griffe.load(module, search_paths=[str(ROOT)], resolve_aliases=True)
    member = loaded[name]
    member = member.final_target if isinstance(member, griffe.Alias) else member
    return member.docstring.value if member.docstring else None


def page_text(page: Path) -> list[str]:
    """The words of a built page, markup removed."""
    text = re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))
    return _words(html.unescape(text))


def anchors(site: Path) -> dict[str, Path]:
    """Every ``id="customerio_sink…"`` of the reference pages → the page that holds it."""
    found: dict[str, Path] = {}
    for page in sorted((site / "reference").rglob("index.html")):
        for anchor in re.findall(r'id="(customerio_sink[\w.]*)"', page.read_text("utf-8")):
            found.setdefault(anchor, page)
    return found


def missing_from_reference(
    site: Path, names: Iterable[tuple[str, str]], docstring: Any = own_docstring
) -> list[str]:
    """Public names (or ``Class.member``) without a docstring, or whose reference entry (anchor +
    the docstring's first sentence) is not in the built site."""
    ids = anchors(site)
    problems = []
    for module, name in names:
        doc = docstring(module, name)
        if not doc:
            problems.append(f"{module}.{name}: no docstring")
            continue
        page = ids.get(f"{module}.{name}") or ids.get(_defined_at(module, name))
        if page is None:
            problems.append(f"{module}.{name}: not in the API reference")
        elif not _contains(page_text(page), _first_sentence(doc)):
            problems.append(f"{module}.{name}: the reference does not show its docstring")
    return problems


def _package_modules() -> list[Any]:
    return [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(customerio_sink.__path__, "customerio_sink.")
        if not info.name.endswith("__main__")
    ]


def undocumented_module_names(modules: Iterable[Any]) -> list[str]:
    """Functions and classes defined in ``modules`` whose names have no leading ``_`` but which
    have no docstring of their own."""
    problems = []
    for module in modules:
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(obj):
                doc = obj.__dict__.get("__doc__")
            elif inspect.isfunction(obj):
                doc = obj.__doc__
            else:
                continue
            if not doc:
                problems.append(f"{module.__name__}.{name}")
    return problems


def error_classes() -> list[type[BaseException]]:
    """Every exception class defined in any module of the package (private ones too)."""
    found = []
    for module in _package_modules():
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.__name__
            ):
                found.append(obj)
    return found


def missing_from_troubleshooting(text: str, classes: Iterable[type[BaseException]]) -> list[str]:
    """Error classes without a heading of their own that gives a cause and a fix."""
    sections = re.split(r"^(?=#{2,4} )", text, flags=re.M)
    problems = []
    for cls in classes:
        heading = re.compile(rf"^#{{2,4}} .*`{re.escape(cls.__name__)}`", re.M)
        own = [s for s in sections if heading.match(s)]
        if not own:
            problems.append(f"{cls.__module__}.{cls.__name__}: no section")
        elif not ("**Cause**" in own[0] and "**Fix**" in own[0]):
            problems.append(f"{cls.__module__}.{cls.__name__}: no cause and fix")
    return problems


TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)`")


def missing_tests(text: str, root: Path = ROOT) -> list[str]:
    """``tests/…py::name`` references (``::Class::name`` too) that name no test."""
    problems = []
    for path, name in TEST_REF.findall(text):
        file = root / path
        if not file.is_file():
            problems.append(f"{path}: no such file")
            continue
        scope: list[ast.stmt] = ast.parse(file.read_text(encoding="utf-8")).body
        for part in name.split("::"):
            hits = [
                n
                for n in scope
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and n.name == part
            ]
            if not hits:
                problems.append(f"{path}::{name}: no such test")
                break
            scope = hits[0].body
    return problems


# --- the site ------------------------------------------------------------------------------------


def build_site(site: Path, config: Path = ROOT / "mkdocs.yml") -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": path}
    command = ["build", "--strict", "-f", str(config), "--site-dir", str(site)]
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _docs_tools_installed() -> None:
    """The site needs the ``docs`` extra; say how to get it instead of an import error."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("griffe") is None:
        pytest.fail("mkdocs is not installed: run `make dev` (it installs the docs extra)")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _docs_tools_installed()
    out = tmp_path_factory.mktemp("site")
    built = build_site(out)
    assert built.returncode == 0, built.stdout + built.stderr
    return out


def test_the_site_builds_with_no_warning(site: Path) -> None:
    assert (site / "index.html").is_file()
    for page in ("setup", "best-practices", "troubleshooting", "guarantees", "reference"):
        assert (site / page / "index.html").is_file(), page
    # The existing guides are in the site, not copied into it.
    for page in ("architecture", "deployment", "migration", "trace", "checkpoints"):
        assert (site / page / "index.html").is_file(), page
    assert "Reset a job safely" in (site / "checkpoints" / "index.html").read_text("utf-8")


def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    _docs_tools_installed()
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "docs" / "setup.md").write_text("# Setup\n\n[nowhere](no-such-page.md)\n")
    built = build_site(tmp_path / "site", tmp_path / "mkdocs.yml")
    assert built.returncode != 0
    assert "no-such-page.md" in built.stdout + built.stderr


def test_every_public_name_has_a_docstring_the_reference_shows(site: Path) -> None:
    names = public_names()
    assert ("customerio_sink.spark.api", "sync") in names and len(names) > 60
    assert missing_from_reference(site, names) == []


def test_the_reference_rule_catches_a_name_left_out_or_undocumented(site: Path) -> None:
    assert missing_from_reference(site, [("customerio_sink.spark.lease", "hold")]) == [
        "customerio_sink.spark.lease.hold: not in the API reference"
    ]
    assert missing_from_reference(
        site, [("customerio_sink.spark.api", "sync")], docstring=lambda m, n: None
    ) == ["customerio_sink.spark.api.sync: no docstring"]
    assert missing_from_reference(
        site, [("customerio_sink.spark.api", "sync")], docstring=lambda m, n: "Bakes a cake."
    ) == ["customerio_sink.spark.api.sync: the reference does not show its docstring"]


def test_every_public_member_has_a_docstring_the_reference_shows(site: Path) -> None:
    members = public_members(public_names())
    assert ("customerio_sink.spark.ledger", "Ledger.read") in members
    assert ("customerio_sink.spark.runner", "SyncResult.totals") in members  # a property
    assert missing_from_reference(site, members) == []


def test_the_member_rule_catches_a_member_undocumented_or_left_out(site: Path) -> None:
    assert public_members([("customerio_sink.emulator", "FaultConfig")]) == [
        ("customerio_sink.emulator", "FaultConfig.as_dict")
    ]
    member = [("customerio_sink.spark.runner", "SyncResult.totals")]
    assert missing_from_reference(site, member, docstring=lambda m, n: None) == [
        "customerio_sink.spark.runner.SyncResult.totals: no docstring"
    ]
    assert missing_from_reference(
        site,
        [("customerio_sink.spark.datasource", "CustomerIOStreamWriter.write")],
        docstring=lambda m, n: "Sends rows.",
    ) == ["customerio_sink.spark.datasource.CustomerIOStreamWriter.write: not in the API reference"]


def test_every_module_level_public_looking_name_has_a_docstring() -> None:
    assert undocumented_module_names(_package_modules()) == []


def test_the_module_name_rule_catches_a_bare_function() -> None:
    import types

    module = types.ModuleType("somewhere")
    exec("def bare():\n    pass\n\ndef _private():\n    pass\n", vars(module))
    assert undocumented_module_names([module]) == ["somewhere.bare"]


def test_every_error_class_is_in_the_troubleshooting_guide() -> None:
    classes = error_classes()
    names = {c.__name__ for c in classes}
    assert {"CustomerIOSinkError", "RunInProgressError", "FilterError"} <= names
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    assert missing_from_troubleshooting(text, classes) == []


def test_the_troubleshooting_rule_catches_a_class_without_a_section() -> None:
    class NewProblemError(Exception):
        pass

    text = "## `OtherError`\n\n**Cause** x. **Fix** y.\n\n### `NewProblemError`\n\nIt breaks.\n"
    assert missing_from_troubleshooting(text, [NewProblemError]) == [
        f"{__name__}.NewProblemError: no cause and fix"
    ]
    assert missing_from_troubleshooting("## Other\n", [NewProblemError]) == [
        f"{__name__}.NewProblemError: no section"
    ]


def test_every_test_named_in_the_guarantees_page_exists() -> None:
    text = (DOCS / "guarantees.md").read_text(encoding="utf-8")
    named = TEST_REF.findall(text)
    assert len(named) >= 15
    assert missing_tests(text) == []
    # Every guarantee (a level-2 section) names at least one test.
    for section in re.split(r"^(?=## )", text, flags=re.M)[1:]:
        assert TEST_REF.search(section), section.splitlines()[0]


def test_the_guarantees_rule_catches_a_renamed_or_missing_test() -> None:
    text = (
        "`tests/docs/test_docs_site.py::test_no_such_thing` "
        "`tests/nowhere/test_x.py::test_y` "
        "`tests/docs/test_docs_site.py::test_every_test_named_in_the_guarantees_page_exists`"
    )
    assert missing_tests(text) == [
        "tests/docs/test_docs_site.py::test_no_such_thing: no such test",
        "tests/nowhere/test_x.py: no such file",
    ]
