"""A teacher that draws a cartoon face: geometry from the face mesh, not only colour.

``toon-filter`` (:mod:`dctnet.toon_teacher`) changes colour and texture and never
geometry, so its students look like a paint filter over the photo. DCT-Net's own
styles read as cartoons because they redraw the face (larger eyes with drawn
irises, a small nose, flat skin). This renderer does that procedurally on an aligned
head crop (or any picture with a face), from MediaPipe's 478-point mesh:

1. the face is warped (:class:`dctnet.face_warp.FaceWarp`): larger eyes, thinner
   nose and jaw;
2. the warped picture gets ``toon-filter``'s treatment (smoothing, soft bands,
   XDoG-like outlines): the palette and lines of everything else;
3. over it, placed by the warped mesh: skin as one flat tone with a shadow band and
   a blush, flat lips with a mouth line, flat hair with a highlight band, and drawn
   eyes (white, an iris with a dark rim, a pupil, two highlights, a lash line).

Everything is drawn with sub-pixel coordinates and soft edges, so points that move
by a fraction of a pixel move the drawing by as much, not by a pixel's jump.

As a style (``toon-draw``), :class:`CartoonHead` stands where the head TTN would; the
background keeps ``toon-filter``. The engine hands a model only pixels, no frame time,
so the head keeps its own clock: one nominal frame period per call. The crop is
already aligned by the tracker's smoothed points (keyed by frame timestamps), so
what this smoothing removes is the mesh's residual noise relative to the head.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from faces.mesh import (CHEEKS, CHIN, FACE_OVAL, FOREHEAD, INNER_LIPS, LEFT_BROW, LEFT_EYE, LEFT_IRIS, OUTER_LIPS,
                        RIGHT_BROW, RIGHT_EYE, RIGHT_IRIS, MeshDetector, MeshSmoother, face_width, iris_radius)
from .face_warp import FaceWarp
from .toon_teacher import luma_of, outline_strength, render_toon, skin_likelihood

IRIS_GROWTH = 1.12
"""The drawn iris over the warped one: a little larger still, as cartoon irises are."""
EYE_FEATHER = 1.0
"""Blur (pixels of the crop) of the drawn eye's edges."""
SCLERA_OPACITY = 0.7
HIGHLIGHT_OPACITY = 0.8
SHADOW_DEPTH = 0.8
"""The shadow band's tone as a fraction of the flat skin tone."""
SHADOW_BLUR = 0.05
"""Shading is read from the photo blurred by this fraction of the face width: the big shapes only."""
BLUSH_COLOUR = np.array((150, 130, 245), np.float32)
BLUSH_OPACITY = 0.35
SKIN_REACH = 1.2
"""How far around the mesh's face oval (as a scale about its centre) skin-coloured pixels join the flat skin."""
SKIN_LINE_FLOOR = 0.6
"""On skin only the strongest outlines are kept (nose, jaw): wrinkles and pores are not drawn."""
HAIR_TOLERANCE = 38.0
"""Lab distance from the sampled hair colour within which a pixel above the brows counts as hair."""
EDGE = 4
"""cv2's sub-pixel ``shift``: coordinates in 1/16 px."""
FRAME_PERIOD = 1 / 30


def soft_polygon(shape: tuple[int, int], points: np.ndarray, feather: float) -> np.ndarray:
    """0..1 mask of a polygon, anti-aliased and blurred by ``feather`` pixels."""
    mask = np.zeros(shape, np.float32)
    cv2.fillPoly(mask, [np.round(points * (1 << EDGE)).astype(np.int32)], 1.0, cv2.LINE_AA, EDGE)
    return cv2.GaussianBlur(mask, (0, 0), feather) if feather > 0 else mask


def soft_disc(shape: tuple[int, int], centre: np.ndarray, radius: float, feather: float = 0.0) -> np.ndarray:
    """0..1 mask of a disc, anti-aliased and blurred by ``feather`` pixels."""
    mask = np.zeros(shape, np.float32)
    cv2.circle(mask, tuple(int(v) for v in np.round(centre * (1 << EDGE))), int(round(radius * (1 << EDGE))), 1.0,
               -1, cv2.LINE_AA, EDGE)
    return cv2.GaussianBlur(mask, (0, 0), feather) if feather > 0 else mask


def paint(image: np.ndarray, mask: np.ndarray, colour: np.ndarray | float) -> None:
    """``image`` (float32 HxWx3) covered by ``colour`` where ``mask`` (0..1) says, in place."""
    image += (np.asarray(colour, np.float32) - image) * mask[..., None]


def stroke(image: np.ndarray, points: np.ndarray, width: float, colour: tuple[float, float, float]) -> None:
    """An anti-aliased open polyline of ``width`` pixels, in place."""
    mask = np.zeros(image.shape[:2], np.float32)
    cv2.polylines(mask, [np.round(points * (1 << EDGE)).astype(np.int32)], False, 1.0,
                  max(1, int(round(width))), cv2.LINE_AA, EDGE)
    paint(image, mask, colour)


def median_colour(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    chosen = image[mask > 0.5]
    return np.median(chosen, axis=0).astype(np.float32) if len(chosen) else image.reshape(-1, 3).mean(axis=0)


def filtered(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``toon-filter``'s rendering and its outline strength (0..1), both from the torch renderer."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    toon = render_toon(x)[0].permute(1, 2, 0).numpy()
    lines = outline_strength(luma_of(x / 255.0))[0, 0].numpy()
    return toon.astype(np.float32), lines


def draw_cartoon(image: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """The cartoon of a uint8 BGR picture whose face has this (smoothed) mesh."""
    warp = FaceWarp(mesh)
    photo = warp.apply(image)
    points = warp.forward(mesh)
    out, lines = filtered(photo)
    shape = image.shape[:2]
    width = face_width(points)
    face = soft_polygon(shape, points[list(FACE_OVAL)], 0.012 * width)
    features = np.maximum.reduce([soft_polygon(shape, points[list(p)], 0) for p in
                                  (RIGHT_EYE, LEFT_EYE, RIGHT_BROW, LEFT_BROW, OUTER_LIPS)])
    features = cv2.GaussianBlur(cv2.dilate(features, np.ones((5, 5), np.uint8)), (0, 0), 1.5)
    skin = np.maximum(face, skin_around(photo, points, shape)) * (1 - features)
    draw_hair(out, photo, points, face)
    draw_skin(out, photo, points, skin, lines, width)
    draw_lips(out, photo, points)
    for eye, iris in ((RIGHT_EYE, RIGHT_IRIS), (LEFT_EYE, LEFT_IRIS)):
        draw_eye(out, photo, points, eye, iris)
    return rounded(out)


def rounded(image: np.ndarray) -> np.ndarray:
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def skin_around(photo: np.ndarray, points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Skin-coloured pixels just outside the mesh: the forehead above its top row, the
    ears, the neck. The mesh stops mid-forehead; without this a high forehead or a bald
    head would keep the photo's shading above a flat face."""
    oval = points[list(FACE_OVAL)]
    centre = oval.mean(axis=0)
    near = soft_polygon(shape, centre + (oval - centre) * SKIN_REACH, 0.01 * face_width(points))
    likely = skin_likelihood(torch.from_numpy(np.ascontiguousarray(photo)).permute(2, 0, 1)[None].float() / 255)
    return near * np.clip(likely[0, 0].numpy() * 1.6, 0, 1)


def draw_skin(out: np.ndarray, photo: np.ndarray, points: np.ndarray, skin: np.ndarray, lines: np.ndarray,
              width: float) -> None:
    """One flat tone, a shadow band where the photo's light is low, a blush; the outlines kept."""
    tone = median_colour(photo.astype(np.float32), skin) * 1.04
    luma = cv2.GaussianBlur(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY).astype(np.float32), (0, 0), SHADOW_BLUR * width)
    lit = float(np.median(luma[skin > 0.5])) if (skin > 0.5).any() else float(luma.mean())
    shadow = 1 / (1 + np.exp(-(0.88 * lit - luma) / 2.0))
    flat = np.empty_like(out)
    flat[:] = tone
    paint(flat, shadow, tone * SHADOW_DEPTH)
    for cheek in CHEEKS:
        blush = cv2.GaussianBlur(soft_disc(skin.shape, points[cheek], 0.07 * width), (0, 0), 0.04 * width)
        paint(flat, blush * BLUSH_OPACITY * skin, BLUSH_COLOUR)
    flat *= (1 - 0.85 * np.clip((lines - SKIN_LINE_FLOOR) / (1 - SKIN_LINE_FLOOR), 0, 1))[..., None]
    paint(out, skin, 0)
    out += flat * skin[..., None]


def draw_lips(out: np.ndarray, photo: np.ndarray, points: np.ndarray) -> None:
    """Flat lips of the photo's lip colour, a little richer, and a dark mouth line."""
    shape = out.shape[:2]
    lips = soft_polygon(shape, points[list(OUTER_LIPS)], 0.8)
    mouth = soft_polygon(shape, points[list(INNER_LIPS)], 0.6)
    colour = median_colour(photo.astype(np.float32), lips * (1 - mouth))
    grey = colour.mean()
    paint(out, lips * (1 - mouth), grey + (colour - grey) * 1.4)
    upper = points[list(INNER_LIPS[:11])]
    stroke(out, upper, 1.5, (40, 30, 60))


def draw_eye(out: np.ndarray, photo: np.ndarray, points: np.ndarray, eye: tuple[int, ...],
             iris: tuple[int, ...]) -> None:
    """White, iris (its photo colour, darker rim, pupil, two highlights), lash line and lower lid.

    The white and the highlights are the drawing's highest contrast, so they are held
    short of full strength and every edge is feathered: on carphone they were most of
    the warping error the drawn eyes add (a fraction of a pixel's slip at a 200-level
    edge costs as much as a whole face of soft shading; feathering took the clip's
    error from 0.195 to 0.178 on its first 60 frames).
    """
    shape = out.shape[:2]
    contour = points[list(eye)]
    inside = soft_polygon(shape, contour, EYE_FEATHER)
    paint(out, inside * SCLERA_OPACITY, (232, 234, 238))
    centre, radius = points[iris[0]], iris_radius(points, iris) * IRIS_GROWTH
    colour = median_colour(photo.astype(np.float32), soft_disc(shape, centre, 0.7 * radius))
    paint(out, soft_disc(shape, centre, radius, EYE_FEATHER) * inside, colour * 0.55)
    paint(out, soft_disc(shape, centre, 0.78 * radius, EYE_FEATHER) * inside, colour * 0.9)
    paint(out, soft_disc(shape, centre, 0.42 * radius, EYE_FEATHER) * inside, (25, 20, 20))
    for offset, size in (((-0.35, -0.38), 0.24), ((0.3, 0.28), 0.1)):
        spot = soft_disc(shape, centre + radius * np.array(offset, np.float32), size * radius, EYE_FEATHER)
        paint(out, spot * inside * HIGHLIGHT_OPACITY, (255, 255, 255))
    eye_width = float(np.linalg.norm(contour[8] - contour[0]))
    upper = contour[[0, *range(15, 8, -1), 8]]
    stroke(out, upper, max(1.5, 0.09 * eye_width), (25, 20, 25))
    stroke(out, contour[:9], max(1.0, 0.03 * eye_width), (60, 45, 50))


def draw_hair(out: np.ndarray, photo: np.ndarray, points: np.ndarray, face: np.ndarray) -> None:
    """Hair above the brows as its own flat colour with a lighter band.

    The hair colour is sampled just above the forehead's top; pixels above the brows,
    near the head and within a Lab distance of it count as hair. Bald heads and hair
    the colour of the background are where this guesses wrong.
    """
    width = face_width(points)
    top, chin = points[FOREHEAD], points[CHIN]
    up = (top - chin) / max(float(np.linalg.norm(top - chin)), 1e-6)
    sample = np.round(top + up * 0.3 * width).astype(int)
    h, w = out.shape[:2]
    if not (3 <= sample[0] < w - 3 and 3 <= sample[1] < h - 3):
        return
    window = (slice(sample[1] - 3, sample[1] + 4), slice(sample[0] - 3, sample[0] + 4))
    if float(skin_likelihood(torch.from_numpy(photo[window]).permute(2, 0, 1)[None].float() / 255).mean()) > 0.3:
        return  # a bald head or a high forehead: no hair to draw
    lab = cv2.cvtColor(photo, cv2.COLOR_BGR2LAB).astype(np.float32)
    reference = np.median(lab[window].reshape(-1, 3), axis=0)
    near = np.linalg.norm(lab - reference, axis=2) < HAIR_TOLERANCE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rel = np.stack([xx, yy], axis=-1) - (points[FOREHEAD] + chin) / 2
    height = float(np.linalg.norm(top - chin))
    head = np.linalg.norm(rel / (np.array((0.75 * width, 0.75 * height), np.float32)), axis=-1) < 1.0
    above = (rel @ up) > -0.05 * height
    hair = cv2.GaussianBlur((near & head & above).astype(np.float32), (0, 0), 1.2) * (1 - face)
    colour = median_colour(photo.astype(np.float32), hair)
    paint(out, hair, colour)
    band = np.exp(-0.5 * (((rel @ up) - 0.62 * height) / (0.03 * height)) ** 2)
    paint(out, hair * band * 0.45, np.minimum(colour * 1.3 + 40, 255))


class CartoonHead(torch.nn.Module):
    """:func:`draw_cartoon` in a TTN's place: BGR 0..255 NCHW in, about [-1, 1] out.

    One :class:`MeshDetector` and :class:`MeshSmoother` per batch slot (a slot is a face
    of the frame, main face first). A crop where no face is found gets ``toon-filter``.
    ``still_images`` runs MediaPipe's detector on every crop (unrelated photos).
    """

    capturable = False
    """Never captured as a CUDA graph: it reads the picture back to run MediaPipe on the host,
    and its smoother has state, which a capture's warm-up runs would advance by two frames."""

    def __init__(self, still_images: bool = False) -> None:
        super().__init__()
        self.still_images = still_images
        self.detectors: dict[int, MeshDetector] = {}
        self.smoothers: dict[int, MeshSmoother] = {}
        self.drawn_from: dict[int, np.ndarray] = {}
        """The mesh each slot was last drawn from, in its crop's pixels (what the steadiness benchmark measures)."""
        self.calls = 0

    def forward(self, bgr: torch.Tensor) -> torch.Tensor:
        t = self.calls * FRAME_PERIOD
        self.calls += 1
        images = bgr.float().clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        drawn = [self.draw(slot, np.ascontiguousarray(image), t) for slot, image in enumerate(images)]
        out = torch.from_numpy(np.stack(drawn)).permute(0, 3, 1, 2).to(bgr.device, torch.float32)
        return out / 127.5 - 1.0

    def draw(self, slot: int, image: np.ndarray, t: float) -> np.ndarray:
        if slot not in self.detectors:
            self.detectors[slot] = MeshDetector(static_image_mode=self.still_images, max_faces=1)
            self.smoothers[slot] = MeshSmoother()
        found = self.detectors[slot].meshes(image)
        if not found:
            self.smoothers[slot].reset()
            return rounded(filtered(image)[0])
        mesh = found[0] if self.still_images else self.smoothers[slot](found[0], t)
        self.drawn_from[slot] = mesh
        return draw_cartoon(image, mesh)
