"""A skip that CI is meant to run fails under ``CI=1`` (issue 30, the suite's silent passes).

The suite's own conftest runs in a real pytest, in a copy of the tests folder placed
where ``../shared/dctnet-reference`` does not exist beside it, as in a clone without it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PROBES = '''
from tests.conftest import import_or_skip_unless_ci, needs_reference, skip_unless_ci


@needs_reference
def test_reads_the_reference():
    pass


def test_needs_a_package_that_is_absent():
    import_or_skip_unless_ci("no_such_package_livetoon", "no_such_package_livetoon is not installed")


def test_cannot_run_here():
    skip_unless_ci("this machine lacks what the test needs")


def test_runs():
    pass
'''


@pytest.fixture(scope="module")
def clone_without_shared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clone") / "repo"
    (root / "tests").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "tests" / "conftest.py", root / "tests" / "conftest.py")
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "test_probes.py").write_text(PROBES)
    assert not (root.parent / "shared").exists()
    return root


def run_probes(root: Path, ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = f"{root}{os.pathsep}{REPO_ROOT}"  # the copied tests first, the app from this checkout
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", "tests"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_outside_ci_they_skip_and_say_why(clone_without_shared):
    done = run_probes(clone_without_shared, None)
    assert done.returncode == 0, done.stdout[-2000:]
    assert re.search(r"^1 passed, 3 skipped", done.stdout, re.M), done.stdout[-2000:]
    assert "dctnet-reference is absent" in done.stdout and "no_such_package_livetoon is not installed" in done.stdout


def test_in_ci_each_of_them_fails(clone_without_shared):
    done = run_probes(clone_without_shared, "1")
    assert done.returncode == 1, done.stdout[-2000:]
    assert re.search(r"^2 failed, 1 passed, 1 error in ", done.stdout, re.M), done.stdout[-2000:]
    assert "ERROR tests/test_probes.py::test_reads_the_reference" in done.stdout, "fails in setup, before the body"
    assert done.stdout.count("CI must run this test") >= 3, done.stdout[-3000:]
