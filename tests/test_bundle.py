"""The bundle checker (``tests/bundle_check.py``) that ``make build`` runs on what it built."""

from __future__ import annotations

import compileall
import py_compile
import sys
from pathlib import Path

import pytest
from bundle_check import bundle_problems

@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (tmp_path / "top.py").write_text("import pkg.mod\n")
    return tmp_path


def compile_bundle(root: Path, mode: py_compile.PycInvalidationMode) -> None:
    assert compileall.compile_dir(root, quiet=1, invalidation_mode=mode)


def test_given_a_bundle_compiled_unchecked_hash_then_no_problem(bundle: Path) -> None:
    compile_bundle(bundle, py_compile.PycInvalidationMode.UNCHECKED_HASH)
    assert bundle_problems(bundle, required=("top.py",)) == []


def test_given_a_module_without_bytecode_then_it_is_named(bundle: Path) -> None:
    compile_bundle(bundle, py_compile.PycInvalidationMode.UNCHECKED_HASH)
    (bundle / "pkg" / "late.py").write_text("X = 2\n")
    assert bundle_problems(bundle) == [f"pkg/late.py: no late.{sys.implementation.cache_tag}.pyc"]


@pytest.mark.parametrize("mode", [py_compile.PycInvalidationMode.TIMESTAMP, py_compile.PycInvalidationMode.CHECKED_HASH])
def test_given_bytecode_that_checks_its_source_then_each_module_is_named(
    bundle: Path, mode: py_compile.PycInvalidationMode
) -> None:
    compile_bundle(bundle, mode)
    problems = bundle_problems(bundle)
    assert len(problems) == 3 and all("is not unchecked-hash" in p for p in problems)


def test_given_source_edited_after_compiling_then_the_stale_bytecode_is_named(bundle: Path) -> None:
    compile_bundle(bundle, py_compile.PycInvalidationMode.UNCHECKED_HASH)
    (bundle / "pkg" / "mod.py").write_text("VALUE = 2\n")
    assert bundle_problems(bundle) == [f"pkg/mod.py: mod.{sys.implementation.cache_tag}.pyc was compiled from other source"]


def test_given_bytecode_with_another_magic_number_then_it_is_refused(bundle: Path) -> None:
    compile_bundle(bundle, py_compile.PycInvalidationMode.UNCHECKED_HASH)
    problems = bundle_problems(bundle, magic=b"\x00\x00\r\n")
    assert len(problems) == 3 and all("another Python version" in p for p in problems)


def test_given_bytecode_only_for_another_interpreter_then_every_module_is_named(bundle: Path) -> None:
    compile_bundle(bundle, py_compile.PycInvalidationMode.UNCHECKED_HASH)
    problems = bundle_problems(bundle, cache_tag="cpython-399")
    assert "top.py: no top.cpython-399.pyc" in problems
    assert sum("bytecode for another interpreter" in p for p in problems) == 3


def test_given_a_required_module_missing_then_it_is_named(bundle: Path) -> None:
    compile_bundle(bundle, py_compile.PycInvalidationMode.UNCHECKED_HASH)
    assert bundle_problems(bundle, required=("handle_email/app.py",)) == ["handle_email/app.py: missing"]

