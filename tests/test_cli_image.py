"""``livetoon image`` and ``livetoon styles`` end to end, through ``main.py`` in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REFERENCE_DIR, REPO_ROOT, needs_reference, skip_unless_ci
from tests.looks import median_texture


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {"LIVETOON_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "HOME": str(data_dir)}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "main.py"), *args],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300,
    )


def assert_clean_failure(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode not in (0, None), result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("livetoon: error:"), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture()
def portrait(tmp_path, astronaut_bgr) -> Path:
    path = tmp_path / "portrait.png"
    cv2.imwrite(str(path), astronaut_bgr)
    return path


@pytest.fixture(scope="module")
def anime_data_dir(tmp_path_factory) -> Path:
    if not REFERENCE_DIR.is_dir():
        skip_unless_ci("../shared/dctnet-reference is absent: cannot import a reference style")
    data_dir = tmp_path_factory.mktemp("data")
    result = run_cli("styles", "import", str(REFERENCE_DIR / "anime"), "--name", "anime", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return data_dir


@needs_reference
def test_full_mode_uses_head_model_on_face_and_bg_model_elsewhere(tmp_path, portrait, anime_data_dir, astronaut_bgr):
    outputs = {}
    for mode in ("full", "background"):
        out = tmp_path / f"{mode}.png"
        result = run_cli("image", str(portrait), "-o", str(out), "--style", "anime", "--mode", mode, data_dir=anime_data_dir)
        assert result.returncode == 0, result.stderr
        outputs[mode] = cv2.imread(str(out))
        assert outputs[mode].shape == astronaut_bgr.shape
    full, bg_only = outputs["full"].astype(int), outputs["background"].astype(int)
    # The astronaut's face lies around x 170..250, y 70..170 in the 512x512 photo.
    face_diff = np.abs(full[90:150, 180:240] - bg_only[90:150, 180:240]).mean()
    far_diff = np.abs(full[400:, :100] - bg_only[400:, :100]).max()
    assert face_diff > 10, f"head pass did not change the face region (mean diff {face_diff:.1f})"
    assert far_diff == 0, "pixels far from the face must come from the bg model alone"
    # And the bg model really stylized the rest of the photo.
    assert np.abs(bg_only[400:, :100] - astronaut_bgr[400:, :100].astype(int)).mean() > 5


@needs_reference
def test_styles_import_list_remove(anime_data_dir, tmp_path):
    listed = run_cli("styles", "list", data_dir=anime_data_dir)
    assert listed.returncode == 0 and "anime" in listed.stdout
    again = run_cli("styles", "import", str(REFERENCE_DIR / "anime"), "--name", "anime", data_dir=anime_data_dir)
    assert_clean_failure(again, "exists")
    copy = run_cli("styles", "import", str(REFERENCE_DIR / "sketch"), "--name", "sk", data_dir=anime_data_dir)
    assert copy.returncode == 0, copy.stderr
    removed = run_cli("styles", "remove", "sk", data_dir=anime_data_dir)
    assert removed.returncode == 0, removed.stderr
    assert "sk " not in run_cli("styles", "list", data_dir=anime_data_dir).stdout


def test_builtin_style_is_the_default(tmp_path, portrait, astronaut_bgr):
    out = tmp_path / "out" / "toon.jpg"
    result = run_cli("image", str(portrait), "-o", str(out), data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    image = cv2.imread(str(out))
    assert image.shape == astronaut_bgr.shape
    assert np.abs(image.astype(int) - astronaut_bgr.astype(int)).mean() > 3, "output looks like the input"
    assert median_texture(image) < 0.7 * median_texture(astronaut_bgr), "flat cartoon regions, not photo texture"


def test_folder_in_folder_out(tmp_path, portrait):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(folder / name), cv2.imread(str(portrait))[::2, ::2])
    result = run_cli("image", str(folder), "-o", str(tmp_path / "out"), "--mode", "background", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.jpg"]


@pytest.mark.parametrize(
    "case",
    ["missing", "empty", "text_as_png", "unknown_style", "corrupt_weights", "unwritable_output", "same_as_input"],
)
def test_bad_input_is_one_clear_error(tmp_path, portrait, case):
    data_dir = tmp_path / "data"
    (data_dir / "styles").mkdir(parents=True)
    src, out, extra, expect = portrait, tmp_path / "out.png", [], ""
    if case == "missing":
        src, expect = tmp_path / "nope.png", "no such file"
    elif case == "empty":
        src, expect = tmp_path / "empty.png", "empty file"
        src.write_bytes(b"")
    elif case == "text_as_png":
        src, expect = tmp_path / "notes.png", "not an image"
        src.write_text("hello, I am not a picture\n")
    elif case == "unknown_style":
        extra, expect = ["--style", "no-such-style"], "unknown style"
    elif case == "corrupt_weights":
        (data_dir / "styles" / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
        extra, expect = ["--style", "broken"], "broken.safetensors"
    elif case == "unwritable_output":
        blocker = tmp_path / "a_file"
        blocker.write_text("x")
        out, expect = blocker / "sub" / "out.png", "cannot create output folder"
    elif case == "same_as_input":
        out, expect = portrait, "its own input"
    before = portrait.read_bytes()
    result = run_cli("image", str(src), "-o", str(out), *extra, data_dir=data_dir)
    assert_clean_failure(result, expect)
    assert portrait.read_bytes() == before, "the input must never be touched"
    if case != "same_as_input":
        assert not out.exists()
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))


def test_doctor_reports_device_reason_and_models(tmp_path):
    result = run_cli("doctor", data_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ok  ] torch" in result.stdout and ("CPU will be used, because" in result.stdout or "will be used" in result.stdout)
    assert "[ok  ] mediapipe" in result.stdout and "toon" in result.stdout
    assert "virtual camera" in result.stdout  # available, or the per-OS fix


def test_main_without_arguments_opens_the_window(tmp_path):
    """The window is seen on a real X server (mapped, titled LiveToon), then closed as a user
    closes it: the program ends with 0 and no error line. Still running is not proof of it."""
    from tests.xserver import close_window, find_window, xvfb

    env = {"LIVETOON_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path), "QT_QPA_PLATFORM": "xcb", "LIVETOON_HUB_ENDPOINT": "http://127.0.0.1:9"}
    with xvfb() as server:
        process = subprocess.Popen([sys.executable, str(REPO_ROOT / "main.py")], stderr=subprocess.PIPE, text=True,
                                   env={**env, **server.env()})
        try:
            window = find_window(server, process.pid, "LiveToon", timeout=90)
            close_window(server, window)
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
            _, err = process.communicate(timeout=30)
    assert code == 0, err
    assert "Traceback" not in err and "error" not in err.lower(), err


def test_window_with_a_missing_file_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(REPO_ROOT / "main.py"), "gui", "--input", str(tmp_path / "gone.mp4")],
                            capture_output=True, text=True, env={"LIVETOON_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
                            timeout=120)
    assert_clean_failure(result, "gone.mp4")
