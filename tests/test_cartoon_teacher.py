"""toon-draw: the teacher that redraws the face from its mesh (dctnet.cartoon_teacher).

Measured on a real portrait (scikit-image's astronaut, NASA, public domain) with the
same face mesh the geometry benchmark uses (benchmarks/toon_geometry.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from dctnet.cartoon_teacher import CartoonHead
from dctnet.engine import Stylizer
from faces.mesh import FACE_OVAL, LEFT_EYE, MeshDetector, MeshSmoother, eye_opening, face_width
from dctnet.face_warp import FaceWarp
from dctnet.styles import DRAW_STYLE, StyleRegistry
from dctnet.toon_teacher import render_toon
from faces.finder import FaceDetector


@pytest.fixture(scope="module")
def astronaut_mesh(astronaut_bgr) -> np.ndarray:
    with MeshDetector(static_image_mode=True) as meter:
        return meter.meshes(astronaut_bgr)[0]


def test_toon_draw_enlarges_the_eyes_and_keeps_the_outline(astronaut_bgr, astronaut_mesh):
    style = StyleRegistry().get(DRAW_STYLE)
    assert style.builtin and style.path is None
    stylizer = Stylizer.from_style(style, device="cpu")
    with FaceDetector(static_image_mode=True) as finder:
        out = stylizer.stylize(astronaut_bgr, finder.detect(astronaut_bgr))
    assert out.shape == astronaut_bgr.shape and out.dtype == np.uint8
    with MeshDetector(static_image_mode=True) as meter:
        drawn = meter.meshes(out)
    assert drawn, "the cartoon is still a face the mesh finds"
    ratio = eye_opening(drawn[0]) / eye_opening(astronaut_mesh)
    assert ratio > 1.2, f"eye opening only {ratio:.2f}x the photo's"
    moves = np.linalg.norm(drawn[0][list(FACE_OVAL)] - astronaut_mesh[list(FACE_OVAL)], axis=1)
    assert moves.mean() < 0.04 * face_width(astronaut_mesh), "the face outline stays where it was"


def test_the_warp_draws_each_point_where_it_reads_it(astronaut_mesh):
    warp = FaceWarp(astronaut_mesh)
    drawn = warp.forward(astronaut_mesh)
    assert np.abs(warp.source(drawn) - astronaut_mesh).max() < 0.05, "forward is source's inverse"
    eye = list(LEFT_EYE)
    assert eye_opening(drawn) > 1.3 * eye_opening(astronaut_mesh)
    assert np.ptp(drawn[eye], axis=0)[1] > 1.3 * np.ptp(astronaut_mesh[eye], axis=0)[1], "the eye grows across"
    far = np.array([[5.0, 5.0], [500.0, 500.0]], np.float32)
    assert np.abs(warp.source(far) - far).max() < 0.01, "the warp is zero away from the face"


def test_smoothed_mesh_keeps_the_eyes_steady_and_follows_a_jump(astronaut_mesh):
    """Landmark noise of half a pixel changes the raw eye opening by several per cent a
    frame; the smoothed mesh that drives the warp keeps it within 1%."""
    rng = np.random.default_rng(1)
    smoother = MeshSmoother()
    raw, smooth = [], []
    for i in range(40):
        noisy = astronaut_mesh + rng.normal(0, 0.5, astronaut_mesh.shape).astype(np.float32)
        raw.append(eye_opening(noisy))
        smooth.append(eye_opening(smoother(noisy, i / 30)))

    def largest_change(series: list[float]) -> float:
        values = np.array(series[10:])
        return float(np.abs(np.diff(values) / values[:-1]).max())

    assert largest_change(raw) > 0.03
    assert largest_change(smooth) < 0.01
    moved = astronaut_mesh + np.float32(0.5 * face_width(astronaut_mesh))
    assert np.abs(smoother(moved, 40 / 30) - moved).max() < 1e-3, "a jump resets, it does not glide"


def test_a_crop_without_a_face_gets_the_filter_look():
    coffee = np.ascontiguousarray(data.coffee()[:288, :288, ::-1])
    batch = torch.from_numpy(coffee).permute(2, 0, 1)[None].float()
    drawn = (CartoonHead(still_images=True)(batch) + 1) * 127.5
    assert (drawn - render_toon(batch)).abs().max() <= 0.5 + 1e-3, "the filter's picture, rounded"
