"""The pretraining families, for the embedded CPMID only: dermoscopy, abdominal CT, GI endoscopy."""

from __future__ import annotations

import numpy as np

from harness.data.phantoms.draw import (blob, blur, blur_rgb, border, curves, dots, finish_gray, finish_rgb, grid,
                                        lesion_mask, lines, network, noise, pick_inside, sigmoid, tint)
from harness.data.phantoms.families import family


def _hairs(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    """Dark curved hairs crossing a dermoscopy field."""
    ys, xs, _ = curves(rng, size, *rng.uniform(-1, 1, (2, count)), rng.uniform(0, 2 * np.pi, count),
                       rng.uniform(0.6, 1.6, count), turn=rng.normal(0, 0.8, count), wiggle=0.2)
    return np.clip(lines(size, ys, xs, 0.5), 0, 1)


@family("derm", "dermoscopy", 3, ("nevus", "melanoma", "keratosis"), "pretraining",
        "Dermoscopy-like skin with hairs and a pigmented lesion. Nevus: round, regular border, even "
        "brown with a fine regular network; melanoma: asymmetric irregular border, blotches of several "
        "colours, a coarse broken network and peripheral dots; keratosis: sharply demarcated lumpy tan "
        "lesion with fissures, white milia cysts and dark comedo openings.")
def _derm(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    tone = rng.uniform(0, 1)
    skin = np.array([0.93, 0.76, 0.66]) * (1 - tone) + np.array([0.66, 0.46, 0.34]) * tone
    texture = rng.uniform(0.02, 0.1) * noise(rng, size, 5) + rng.uniform(0.01, 0.05) * noise(rng, size, 24)
    img = skin * (1 + texture)[..., None]
    cy, cx = rng.normal(0, 0.12, 2)
    r = rng.uniform(0.28, 0.58)
    if label == 0:
        outline = border(rng, 0.03, 4)
    else:
        outline = border(rng, rng.uniform(0.14, 0.22), decay=1.0) if label == 1 else border(rng, 0.08)
    lesion = blob(size, cy, cx, r, aspect=rng.uniform(0.75, 1.25), angle=rng.uniform(0, np.pi),
                  border=outline, edge_px=0.7 if label == 2 else 1.5)
    pigment = np.array([0.42, 0.26, 0.16]) * np.exp(rng.normal(0, 0.1, 3)) * rng.uniform(0.7, 1.4)
    alpha = rng.uniform(0.5, 0.85)
    if label == 0:
        centre = rng.uniform(0, 0.25) * blob(size, cy, cx, r * 0.5, edge_px=4.0)  # darker centre
        img = tint(img, pigment, alpha * lesion * (0.8 + 0.2 * network(rng, size, max(4, size // 5), 0.4) + centre))
    elif label == 1:
        img = tint(img, pigment, 0.85 * alpha * lesion * (0.8 + 0.3 * network(rng, size, max(4, size // 9), 0.6)))
        strength = rng.uniform(0.25, 0.55)
        for colour in ((0.15, 0.08, 0.07), (0.35, 0.4, 0.55), (0.85, 0.72, 0.7), (0.7, 0.3, 0.3)):
            img = tint(img, colour, strength * sigmoid(4 * noise(rng, size, 6) - 2.5) * lesion)
        n = rng.integers(4, 12)
        ang, rad = rng.uniform(0, 2 * np.pi, n), r * rng.uniform(0.7, 1.1, n)
        rim = dots(rng, size, cy + rad * np.sin(ang), cx + rad * np.cos(ang), np.full(n, 0.03), 0.1, 0.8)
        img = tint(img, (0.2, 0.12, 0.1), 0.8 * rim)
        lesion = np.maximum(lesion, rim)
    else:
        img = tint(img, pigment, alpha * lesion * (1 - 0.35 * network(rng, size, max(4, size // 6), 0.3)))
        for colour in ((0.97, 0.95, 0.9), (0.2, 0.14, 0.1)):  # milia cysts, comedo openings
            count = rng.integers(2, 7)
            ang, rad = rng.uniform(0, 2 * np.pi, count), r * np.sqrt(rng.uniform(0, 0.6, count))
            cysts = dots(rng, size, cy + rad * np.sin(ang), cx + rad * np.cos(ang), np.full(count, 0.035), 0.0, 0.8)
            img = tint(img, colour, 0.85 * cysts * lesion)
    img = tint(img, (0.15, 0.1, 0.08), 0.8 * _hairs(rng, size, int(rng.integers(0, 12))))
    if rng.random() < 0.5:  # round dermoscope field
        img = img * blob(size, 0, 0, rng.uniform(1.0, 1.3), edge_px=3.0)[..., None]
    return finish_rgb(rng, blur_rgb(img, 0.4), cast=0.12, spread=1.3), lesion_mask(lesion)


def _paint(img: np.ndarray, occupancy: np.ndarray, value: np.ndarray | float) -> np.ndarray:
    """Replace `img` by `value` where `occupancy` is 1, blending at soft edges."""
    return img * (1 - occupancy) + value * occupancy


@family("ct", "abdominal CT", 1, ("normal", "cyst", "tumour"), "pretraining",
        "Axial abdominal CT slice: body wall and fat, liver, spleen, kidneys, aorta, vertebra and bowel "
        "loops with gas. Cyst: a round, sharply bordered, homogeneous low-density liver lesion; tumour: an "
        "irregular, heterogeneous, ill-defined lesion with an enhancing rim; normal: neither.")
def _ct(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    bx, by = rng.uniform(0.78, 0.95), rng.uniform(0.58, 0.72)
    body = blob(size, 0.05, 0, by, aspect=bx / by, border=border(rng, 0.02, 4), edge_px=0.8)
    wall = blob(size, 0.05, 0, by - 0.07, aspect=(bx - 0.07) / (by - 0.07), edge_px=0.8)
    inner = blob(size, 0.05, 0, by - 0.11, aspect=(bx - 0.11) / (by - 0.11), edge_px=0.8)
    img = 0.3 * body + 0.25 * (wall - inner) + inner * (0.08 + 0.02 * noise(rng, size, 10))
    for _ in range(rng.integers(3, 7)):  # bowel loops, some with gas
        loop = blob(size, rng.uniform(-0.2, 0.3), rng.uniform(-0.3, 0.45), rng.uniform(0.07, 0.12),
                    aspect=rng.uniform(0.7, 1.4), edge_px=0.8) * inner
        img = _paint(img, loop, rng.uniform(0.5, 0.6))
        if rng.random() < 0.4:
            img = img * (1 - loop * blob(size, *rng.uniform(-0.1, 0.3, 2), 0.04, edge_px=0.6))
    liver = blob(size, rng.uniform(-0.2, 0.0), rng.uniform(-0.5, -0.35), rng.uniform(0.3, 0.38),
                 aspect=rng.uniform(0.9, 1.2), border=border(rng, 0.06, 5), edge_px=0.8) * inner
    img = _paint(img, liver, 0.62)
    img = _paint(img, blob(size, rng.uniform(-0.15, 0.05), rng.uniform(0.45, 0.6), rng.uniform(0.12, 0.18),
                           aspect=0.7, angle=0.6, edge_px=0.8) * inner, 0.6)  # spleen
    for side in (-1, 1):  # kidneys
        img = _paint(img, blob(size, rng.uniform(0.22, 0.3), side * rng.uniform(0.25, 0.33), rng.uniform(0.09, 0.11),
                               aspect=0.65, angle=side * 0.5, edge_px=0.7), 0.72)
    img = _paint(img, blob(size, 0.25, rng.uniform(-0.02, 0.08), 0.05, edge_px=0.6), 0.82)  # aorta
    img = _paint(img, blob(size, rng.uniform(0.4, 0.46), 0, rng.uniform(0.1, 0.12), aspect=1.2, edge_px=0.6),
                 0.85 + 0.06 * noise(rng, size, 16))  # vertebra
    img = _paint(img, blob(size, 0.6, 0, 0.045, edge_px=0.6), 0.45)  # spinal canal
    lesion = np.zeros((size, size))
    if label:
        cy, cx = pick_inside(rng, blur(liver, 2.5) > 0.8)
        r = rng.uniform(0.06, 0.12)
        if label == 1:
            lesion = blob(size, cy, cx, r, aspect=rng.uniform(0.85, 1.15), border=border(rng, 0.02, 4), edge_px=0.5)
            img = _paint(img, lesion, rng.uniform(0.35, 0.45))
        else:
            lesion = blob(size, cy, cx, r * 1.2, aspect=rng.uniform(0.7, 1.3), border=border(rng, 0.18, decay=1.0),
                          edge_px=1.2)
            core = blob(size, cy, cx, r * 0.8, border=border(rng, 0.15), edge_px=1.2)
            img = _paint(img, lesion, 0.42 + 0.06 * noise(rng, size, 12)) + 0.12 * np.clip(lesion - core, 0, 1)
        lesion = lesion * liver
    img = img + rng.uniform(0.01, 0.04) * blur(rng.standard_normal((size, size)), 0.6) * body
    return finish_gray(rng, img, noise=(0.0, 0.01)), lesion_mask(lesion)


@family("endoscopy", "GI endoscopy", 3, ("normal", "polyp", "ulcer"), "pretraining",
        "Colonoscopy-like frame: pink mucosa with folds, a dark lumen, fine vessels and specular "
        "highlights, and pale mucus strands. Polyp: a round raised blob with a shaded rim and pit pattern; "
        "ulcer: an irregular whitish-yellow fibrin patch with a red rim; normal: neither. Mucus and fibrin "
        "share one budget of pale area, so their total is label-free.")
def _endoscopy(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = grid(size)
    ly, lx = rng.uniform(-0.5, 0.5, 2)
    dist = np.sqrt((yy - ly) ** 2 + (xx - lx) ** 2)
    folds = np.cos(dist * rng.uniform(6, 10) + 2 * noise(rng, size, 3)) * np.exp(-dist)
    light = np.clip(0.35 + 0.55 * dist + 0.12 * folds + 0.05 * noise(rng, size, 6), 0.05, 1.1)
    mucosa = np.array([0.86, 0.45, 0.38]) * np.exp(rng.normal(0, 0.07, 3))
    img = mucosa * light[..., None]
    count = rng.integers(3, 8)
    ys, xs, _ = curves(rng, size, *rng.uniform(-1, 1, (2, count)), rng.uniform(0, 2 * np.pi, count),
                       rng.uniform(0.3, 0.8, count), wiggle=1.5)
    vessels = np.clip(lines(size, ys, xs, 0.45), 0, 1)
    img = img * (1 - 0.35 * vessels[..., None] * np.array([0.2, 0.8, 0.7]))
    lesion = np.zeros((size, size))
    cy, cx = pick_inside(rng, (dist > 0.35) & (np.abs(yy) < 0.75) & (np.abs(xx) < 0.75))
    if label == 1:
        r = rng.uniform(0.14, 0.26)
        lesion = blob(size, cy, cx, r, aspect=rng.uniform(0.85, 1.15), border=border(rng, 0.04, 4), edge_px=0.8)
        direction = rng.uniform(0, 2 * np.pi)
        lit = 1 + 0.8 * ((yy - cy) * np.sin(direction) + (xx - cx) * np.cos(direction)) / r  # raised: lit on one side
        pits = 1 - 0.15 * network(rng, size, max(4, size // 4), 0.4)
        rim = np.clip(lesion - blob(size, cy, cx, r * 0.75, edge_px=0.8), 0, 1)
        surface = mucosa * np.array([1.1, 0.9, 0.9]) * (np.clip(lit, 0.5, 1.5) * pits * (1 - 0.5 * rim))[..., None]
        img = img * (1 - lesion[..., None]) + surface * lesion[..., None]
        glint = blob(size, cy - 0.4 * r * np.sin(direction), cx - 0.4 * r * np.cos(direction), 0.15 * r, edge_px=0.6)
        img = tint(img, (1.0, 1.0, 1.0), 0.8 * glint)
    elif label == 2:
        r = rng.uniform(0.1, 0.2)
        lesion = blob(size, cy, cx, r, aspect=rng.uniform(0.7, 1.3), border=border(rng, 0.16, decay=1.1), edge_px=0.8)
        img = tint(img, (0.75, 0.15, 0.12), 0.7 * np.clip(2 * blur(lesion, 1.5) * (1 - lesion), 0, 1))
        img = tint(img, (0.9, 0.8, 0.6), 0.75 * lesion * np.clip(1 + 0.1 * noise(rng, size, 12), 0, 1))
    pale = rng.uniform(0.005, 0.035) - float(lesion.mean()) * (label == 2)  # mucus and fibrin share one budget
    length = max(pale, 0.0) * 4 / (3 * 1.5 * 2 / size)  # three strands about 1.5 px wide
    ys, xs, _ = curves(rng, size, *rng.uniform(-0.8, 0.8, (2, 3)), rng.uniform(0, 2 * np.pi, 3), length, wiggle=1.0)
    img = tint(img, (0.92, 0.88, 0.75), 0.7 * np.clip(lines(size, ys, xs, 0.6), 0, 1))
    n = rng.integers(1, 12)
    glints = dots(rng, size, *rng.uniform(-0.9, 0.9, (2, n)), rng.uniform(0.015, 0.06, n), 0.3, 0.7)
    img = tint(img, (1.0, 1.0, 1.0), 0.9 * glints)
    img = img * blob(size, 0, 0, rng.uniform(1.05, 1.35), edge_px=2.5)[..., None]
    return finish_rgb(rng, img), lesion_mask(lesion)
