"""LiveToon as a user installs it: a wheel built from this checkout, in a fresh venv, no ``-e``.

Tests that run from the checkout (editable install, ``python main.py``) cannot see what
the wheel leaves out: a package missing from ``pyproject.toml`` is still importable
from the working tree. So the wheel is built from a copy of the sources (no stale
``build/`` folder, nothing written into the checkout), installed with the README's
two commands into a venv that sees no other site-packages, and every command then
runs from a folder outside the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # the README's pin: the CPU wheel on the project's machines
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")
"""Build outputs and environments of the checkout; everything else is copied as a clone has it."""


@dataclass(frozen=True)
class Installed:
    """A venv holding the installed wheel."""

    root: Path
    wheel: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def livetoon(self) -> Path:
        return self.root / "bin" / "livetoon"


def packages_in_checkout() -> set[str]:
    """Every importable package of the project, by its folders' ``__init__.py``."""
    found = set()
    for top in ("app", "dctnet", "flow", "weights"):
        for init in (REPO_ROOT / top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(REPO_ROOT).parts))
    return found


def wheel_contents(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def pip(python: Path, *args: str) -> None:
    """``pip install ARGS``; ``--no-compile`` only skips writing .pyc files for all of torch up front (half the time)."""
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-compile", *args],
                            capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        raise AssertionError(f"pip install {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def build_and_install(workdir: Path) -> Installed:
    """Build the wheel from a copy of the sources and install it with the README's commands."""
    source = workdir / "source"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_SOURCES)
    dist = workdir / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("livetoon-*.whl")
    root = workdir / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(root)
    installed = Installed(root, wheel)
    pip(installed.python, TORCH)
    pip(installed.python, str(wheel))
    return installed


def remove_in_background(folder: Path) -> None:
    """Delete ``folder`` without waiting: removing a 2 GB venv takes this disk most of a minute."""
    subprocess.Popen(["rm", "-rf", str(folder)], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """A new user's environment: own home, config and data folders, nothing from this test run's venv."""
    keep = {name: os.environ[name] for name in ("PATH", "LANG", "TMPDIR") if name in os.environ}
    keep["PATH"] = os.pathsep.join(p for p in keep.get("PATH", "/usr/bin:/bin").split(os.pathsep) if ".venv" not in p)
    return {**keep, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
            "LIVETOON_DATA_DIR": str(home / "livetoon-data"), **extra}
