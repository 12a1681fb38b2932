"""Backgrounds behind the person (issue 14): the crop-limited bg pass, the chain, the CLI.

Real photos (scikit-image's astronaut over its rocket photo), real encoded clips
(PyAV), the real models; the matte is MediaPipe's selfie model.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.commands.cli import main
from app.compositing import KEY_COLOUR, BackgroundSource, Compositor, Kind, parse_background
from app.media.video_in import VideoReader
from app.frames import VideoFrame
from app.live.processor import LiveProcessor
from app.live.settings import LiveSettings
from app.pipeline import FrameProcessor
from benchmarks.compositing import person_scene, skimage_bgr
from dctnet.engine import Stylizer
from common.errors import LiveToonError
from faces.finder import FaceDetector
from matte.segment import SelfieSegmenter
from dctnet.styles import StyleRegistry
from flow.estimate import SequenceFlow
from flow.stabilize import Stabilizer
from matte.composite import over
from matte.stage import PersonMatte
from tests.clips import write_clip
from tests.test_cli_image import assert_clean_failure, run_cli

GREEN = np.array(KEY_COLOUR, np.uint8)


def halved(image: np.ndarray) -> np.ndarray:
    """Each 2x2 block's mean, rounded: the half-size picture, computed here and not by the
    code under test (its ``cover`` of a picture exactly twice the frame's size is this,
    within 1 level of rounding)."""
    h, w = image.shape[0] // 2, image.shape[1] // 2
    return np.round(image[:2 * h, :2 * w].reshape(h, 2, w, 2, -1).astype(np.float64).mean(axis=(1, 3))).astype(np.uint8)


def twice_the_size(width: int, height: int) -> np.ndarray:
    """The coffee photo made exactly ``2 * width`` x ``2 * height`` (test input only)."""
    return cv2.resize(skimage_bgr("coffee.png"), (2 * width, 2 * height), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def scene_720p() -> np.ndarray:
    return person_scene(1280, 720)


@pytest.fixture(scope="module")
def person_clip(tmp_path_factory) -> Path:
    images = [person_scene(320, 180, shift=2 * i) for i in range(8)]
    return write_clip(tmp_path_factory.mktemp("compositing") / "person.mp4", size=(320, 180), rate=Fraction(24),
                      audio=("aac",), images=images)


def test_the_bg_pass_on_the_person_boxes_matches_the_whole_frame_pass(scene_720p):
    """Inside the boxes, 12 px from their outer borders and up to the seam between the two,
    the cartoon is the whole frame's (within 1 level); outside them there is no bg pass.
    The shoulders reach the frame's bottom edge, where the window takes the whole pass's
    own padding: there the match holds up to the edge."""
    stylizer = Stylizer.from_style(StyleRegistry().get("toon"), device="cpu")
    with FaceDetector(static_image_mode=True) as detector:
        faces = detector.detect(scene_720p)
    assert faces, "the astronaut's face is found"
    head, shoulders = (480, 152, 800, 400), (400, 400, 880, 720)  # stacked, as person_boxes gives them
    whole = stylizer.stylize(scene_720p, faces).astype(int)
    cropped = stylizer.stylize(scene_720p, faces, region=[head, shoulders]).astype(int)
    near = 12
    for (x0, y0, x1, y1), top in ((head, head[1] + near), (shoulders, shoulders[1])):  # down to the seam / the edge
        inside = np.abs(whole[top:y1, x0 + near:x1 - near] - cropped[top:y1, x0 + near:x1 - near])
        assert inside.max() <= 1, f"max difference {inside.max()} inside {(x0, y0, x1, y1)}"
    assert np.array_equal(cropped[:, :300], scene_720p[:, :300].astype(int)), "outside the boxes: no bg pass"
    assert np.array_equal(cropped[:140, 880:], scene_720p[:140, 880:].astype(int))
    assert np.abs(whole[:, :300] - scene_720p[:, :300].astype(int)).mean() > 5, "... which the whole pass stylizes"


def test_over_the_matte_s_boxes_the_composite_is_the_whole_frame_pass_s(scene_720p):
    """What is seen: the person over the key colour with the bg pass on the matte's own boxes
    is within 1 level of the same over a whole-frame bg pass, everywhere in the frame (the
    alpha reaches past the coarse matte, into the boxes' less exact border)."""
    stylizer = Stylizer.from_style(StyleRegistry().get("toon"), device="cpu")
    with SelfieSegmenter() as segmenter:
        matte = PersonMatte(segmenter)(scene_720p, None)
    assert 1 <= len(matte.boxes) <= 2
    green = np.zeros_like(scene_720p)
    green[..., 1] = 255
    whole = over(stylizer.stylize(scene_720p), green, matte.alpha).astype(int)
    boxed = over(stylizer.stylize(scene_720p, region=matte.boxes), green, matte.alpha).astype(int)
    assert np.abs(boxed - whole).max() <= 1


def processed_scene(background: str, frames: list[np.ndarray]):
    stylizer = Stylizer.from_style(StyleRegistry().get("toon-lite"), device="cpu", mode="background")
    with SelfieSegmenter() as segmenter:
        processor = FrameProcessor(stylizer, None, Stabilizer(0.7), compositor=Compositor(parse_background(background), segmenter))
        calls = []
        flow = processor.motion

        def counted(image):  # the chain's one flow, counted
            calls.append(image)
            return flow(image)

        processor.motion = counted
        results = [processor(VideoFrame(f, i, i / 24, i)) for i, f in enumerate(frames)]
    assert len(calls) == len(frames), "the flow runs once per frame, shared by the matte and the stabilizer"
    return results


def test_colour_and_transparent_backgrounds_through_the_chain():
    frames = [person_scene(640, 360, shift=3 * i) for i in range(3)]
    colour = processed_scene("color:#ff0000", frames)[-1]
    assert colour.alpha is None
    assert np.all(colour.output[:40, :40] == (0, 0, 255)), "far from the person: the colour, exactly"
    assert np.abs(colour.output[250:330, 280:360].astype(int) - (0, 0, 255)).sum(axis=2).mean() > 100, "the person stays"
    transparent = processed_scene("transparent", frames)[-1]
    assert transparent.alpha.shape == (360, 640) and transparent.alpha.dtype == np.uint8
    assert transparent.alpha[:40, :40].max() == 0 and transparent.alpha[250:330, 280:360].min() == 255
    assert np.all(transparent.output[:40, :40] == GREEN), "opaque outputs get the key colour"
    bgra = transparent.bgra()
    assert np.array_equal(bgra[..., 3], transparent.alpha)
    person = transparent.alpha > 0
    assert np.array_equal(bgra[..., :3][person], transparent.foreground[person]), "colours under alpha are the cartoon's, not green"
    assert (bgra[..., :3][~person] == 0).all(), "under alpha 0: black, never the camera's room"


def test_image_transparent_writes_rgba_png(tmp_path):
    src = tmp_path / "person.png"
    cv2.imwrite(str(src), skimage_bgr("astronaut.png"))
    out = tmp_path / "cut.png"
    result = run_cli("image", str(src), "-o", str(out), "--style", "toon-lite", "--background", "transparent",
                     data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert written.shape == (512, 512, 4)
    assert written[90:140, 200:250, 3].min() == 255 and written[0:60, 400:512, 3].max() <= 2


def test_image_on_a_picture_background(tmp_path):
    src, backdrop = tmp_path / "person.png", tmp_path / "backdrop.png"
    cv2.imwrite(str(src), skimage_bgr("astronaut.png"))
    cv2.imwrite(str(backdrop), cv2.resize(skimage_bgr("coffee.png"), (1536, 1024), interpolation=cv2.INTER_CUBIC))
    out = tmp_path / "out.png"
    result = run_cli("image", str(src), "-o", str(out), "--style", "toon-lite", "--background", str(backdrop),
                     data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    written = cv2.imread(str(out))
    expected = halved(cv2.imread(str(backdrop))[:, 256:1280])  # 1536x1024 covers 512x512: halved, the middle kept
    assert np.abs(written[0:60, 420:512].astype(int) - expected[0:60, 420:512]).max() <= 2, "the backdrop, as is"


@pytest.mark.parametrize("background, message", [
    ("color:#12345", "expected #RRGGBB"),
    ("nowhere.png", "nowhere.png: no such file"),
    ("CORRUPT", "not an image or corrupt"),
    ("transparent", "cannot carry transparency"),
])
def test_bad_backgrounds_are_one_line_and_write_nothing(tmp_path, background, message):
    src = tmp_path / "person.png"
    cv2.imwrite(str(src), skimage_bgr("astronaut.png"))
    if background == "CORRUPT":
        background = str(tmp_path / "broken.png")
        Path(background).write_bytes(b"not a picture")
    out = tmp_path / "out.jpg"
    result = run_cli("image", str(src), "-o", str(out), "--background", background, data_dir=tmp_path)
    assert_clean_failure(result, message)
    assert not out.exists()


def test_convert_with_a_colour_background_keeps_the_audio(person_clip, tmp_path, capsys):
    out = tmp_path / "green.mp4"
    assert main(["convert", str(person_clip), "-o", str(out), "--style", "toon-lite", "--mode", "background",
                 "--background", "color", "--device", "cpu"]) == 0
    with av.open(str(out)) as container:
        assert len(container.streams.audio) == 1, "audio kept"
    with VideoReader(out) as reader:
        frames = [f.image for f in reader]
    assert len(frames) == 8
    corner = np.stack([f[:20, :20] for f in frames]).reshape(-1, 3).astype(int)
    assert np.abs(corner - GREEN).max() <= 6, "pure green behind the person (H.264 error aside)"
    assert "matte" in capsys.readouterr().out, "the matte's time is reported"


def test_convert_refuses_a_bad_background_before_writing(person_clip, tmp_path, capsys):
    out = tmp_path / "x.mp4"
    assert main(["convert", str(person_clip), "-o", str(out), "--background", "color:green"]) == 1
    err = capsys.readouterr().err
    assert err.count("livetoon: error:") == 1 and "#RRGGBB" in err and not out.exists()


def test_live_records_the_person_over_green(person_clip, tmp_path, capsys):
    target = tmp_path / "live.mp4"
    assert main(["live", "--input", str(person_clip), "--record", str(target), "--duration", "3",
                 "--output-size", "320x180", "--output-fps", "10", "--background", "color", "--style",
                 "toon-lite", "--mode", "background", "--device", "cpu"]) == 0
    assert re.search(r"recorded (\d+) frames", capsys.readouterr().out)
    with VideoReader(target) as reader:
        last = [f.image for f in reader][-1]
    # (transparent into .mp4 is refused: an H.264 file cannot keep the alpha; tests/test_alpha_outputs.py)
    assert np.abs(last[:20, :20].astype(int) - GREEN).max() <= 6, "color: the key colour behind the person"


def test_live_keeps_the_background_when_a_new_one_is_bad(tmp_path):
    notices: list[str] = []
    processor = LiveProcessor(LiveSettings(style="toon-lite", mode="background", background="blur"),
                              on_notice=notices.append)
    try:
        processor.apply_settings()
        assert processor.compositors.compositor.choice.kind is Kind.BLUR
        processor.update(background=str(tmp_path / "gone.png"))
        assert processor.apply_settings().background == "blur" and processor.settings.background == "blur"
        assert len(notices) == 1 and "gone.png" in notices[0]
        processor.update(background="keep")
        processor.apply_settings()
        assert processor.compositors.compositor is None
    finally:
        processor.close()


def test_a_video_background_loops(tmp_path):
    clip = write_clip(tmp_path / "backdrop.mp4", frames=5, size=(160, 96), rate=Fraction(10), audio=())
    with VideoReader(clip) as reader:
        decoded = [f.image for f in reader]
    source = BackgroundSource(parse_background(str(clip)))
    camera = np.zeros((96, 160, 3), np.uint8)
    try:
        shown = [source(camera, None) for _ in range(7)]
    finally:
        source.close()
    assert all(np.array_equal(a, b) for a, b in zip(shown, decoded + decoded[:2])), "in order, then from the start"


def test_a_still_background_is_stylized_once(tmp_path):
    """The backdrop is the picture covered to the frame and through the style's bg pass: here
    the picture is exactly twice the frame (so covering halves it, computed apart) and the bg
    pass is the frame chain's own ``stylize`` of a frame with no face."""
    path = tmp_path / "backdrop.png"
    cv2.imwrite(str(path), twice_the_size(320, 180))
    stylizer = Stylizer.from_style(StyleRegistry().get("toon-lite"), device="cpu")
    source = BackgroundSource(parse_background(str(path)), stylized=True)
    camera = np.zeros((180, 320, 3), np.uint8)
    first = source(camera, stylizer)
    assert source(camera, stylizer) is first, "made once, then cached"
    as_is = halved(cv2.imread(str(path)))
    expected = stylizer.stylize(as_is, [])
    assert np.abs(first.astype(int) - expected).mean() < 1.0, "the bg pass of the covered picture"
    assert np.abs(first.astype(int) - as_is).mean() > 5, "stylized, not as is"


def test_background_words_and_colours():
    assert parse_background("color").colour == (0, 255, 0)
    assert parse_background("color:#FF8000").colour == (0, 128, 255), "BGR"
    assert parse_background("Transparent").kind is Kind.TRANSPARENT
    with pytest.raises(LiveToonError, match="no such file"):
        parse_background("bluer")
