"""The downstream families, the embedded suite: chest X-ray, H&E histology, fundus, breast ultrasound."""

from __future__ import annotations

import numpy as np

from harness.data.phantoms.draw import (blob, blur, blur_rgb, border, curves, dots, finish_gray, finish_rgb, grid,
                                        lesion_mask, lines, network, noise, pick_inside, sigmoid, tint)
from harness.data.phantoms.families import family


@family("xray", "chest X-ray", 1, ("normal", "nodule", "opacity"), "downstream",
        "Frontal chest-radiograph phantom: lung fields, heart, spine, ribs and vascular markings. "
        "Nodule: one to three small well-circumscribed round densities; opacity: an ill-defined patchy "
        "consolidation with an irregular border; normal: neither.")
def _xray(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = grid(size)
    body = blob(size, 0.2, 0, rng.uniform(0.9, 1.05), aspect=rng.uniform(0.95, 1.1), edge_px=2.5)
    lung_w, lung_h = rng.uniform(0.25, 0.33), rng.uniform(0.52, 0.64)
    lung_dx, lung_cy = rng.uniform(0.36, 0.45), rng.uniform(-0.1, 0.02)
    lungs = np.maximum(*(blob(size, lung_cy, side * lung_dx, lung_h, aspect=lung_w / lung_h,
                              angle=side * rng.uniform(-0.2, 0.0), border=border(rng, 0.04, 4), edge_px=1.5)
                         for side in (-1, 1)))
    heart = blob(size, lung_cy + 0.32, rng.uniform(0.12, 0.22), rng.uniform(0.24, 0.3), aspect=1.3, edge_px=2.0)
    spine = np.exp(-(xx / rng.uniform(0.09, 0.13)) ** 4) * body
    lungs = lungs * (1 - heart) * (1 - spine)
    side = np.repeat([-1.0, 1.0], 5)  # vessels fan out from each hilum, fading towards the periphery
    angle = np.pi / 2 * (1 - side) + side * rng.uniform(-0.9, 0.9, 10)
    ys, xs, _ = curves(rng, size, lung_cy + 0.1, side * 0.2, angle, rng.uniform(0.3, 0.6, 10), wiggle=0.8)
    markings = np.clip(lines(size, ys, xs, 0.6, np.linspace(1, 0.2, ys.shape[1])), 0, 1)
    spacing = rng.uniform(0.12, 0.15)
    phase = (yy - 1.1 * (np.abs(xx) - 0.35) ** 2 + 0.15 * np.abs(xx) - rng.uniform(0, spacing)) / spacing
    ribs = ((0.5 + 0.5 * np.cos(2 * np.pi * phase)) ** 2) ** 3
    img = (0.12 + 0.45 * body + 0.04 * noise(rng, size, 4) - rng.uniform(0.25, 0.38) * lungs
           + lungs * (0.07 * markings + 0.02 * noise(rng, size, 12)) + 0.12 * spine * (1 - lungs)
           + rng.uniform(0.04, 0.08) * ribs * (0.25 + 0.75 * lungs) * body)
    lesion = np.zeros((size, size))
    if label == 1:
        for _ in range(rng.integers(1, 4)):
            cy, cx = pick_inside(rng, blur(lungs, 2.0) > 0.7)
            lesion = np.maximum(lesion, blob(size, cy, cx, rng.uniform(0.09, 0.15), aspect=rng.uniform(0.85, 1.15),
                                             border=border(rng, 0.03, 4), edge_px=0.7))
        img = img + rng.uniform(0.2, 0.3) * lesion
    elif label == 2:
        cy, cx = pick_inside(rng, blur(lungs, 3.0) > 0.7)
        region = blob(size, cy, cx, rng.uniform(0.25, 0.38), aspect=rng.uniform(0.7, 1.3),
                      border=border(rng, 0.18, decay=1.0), edge_px=2.0)
        lesion = region * sigmoid(3 * noise(rng, size, 10) + 1.5) * lungs
        img = img + rng.uniform(0.16, 0.24) * lesion
    return finish_gray(rng, blur(img, 0.5)), lesion_mask(lesion)


def _stain(rng: np.random.Generator, hema: np.ndarray, eosin: np.ndarray) -> np.ndarray:
    """Beer–Lambert H&E rendering with per-image stain vectors (stain variation)."""
    h = np.array([0.65, 0.70, 0.29]) + rng.normal(0, 0.04, 3)
    e = np.array([0.07, 0.99, 0.11]) + rng.normal(0, 0.04, 3)
    od = hema[..., None] * np.clip(h, 0.02, None) + eosin[..., None] * np.clip(e, 0.02, None)
    return np.exp(-od * rng.uniform(0.85, 1.15))


def _nuclei(rng: np.random.Generator, size: int, fraction: float, radius: float, jitter: float, roughness: float,
            region: np.ndarray) -> np.ndarray:
    """Occupancy of nuclei of mean `radius` (normalised) covering about `fraction` of `region`."""
    count = int(fraction * 4.41 / (np.pi * radius ** 2 * np.exp(2 * jitter ** 2)))
    ys, xs = rng.uniform(-1.05, 1.05, (2, count))
    idx = np.clip(((np.stack([ys, xs]) + 1) / 2 * size).astype(int), 0, size - 1)
    keep = region[idx[0], idx[1]] > 0.5
    radii = radius * np.exp(jitter * rng.standard_normal(count))[keep]
    return dots(rng, size, ys[keep], xs[keep], radii, roughness, sigma_px=max(0.7, radius * size / 2 * 0.8))


@family("histo", "histopathology (H&E)", 3, ("normal", "inflammation", "tumour"), "downstream",
        "H&E-stained tissue tile: pink fibrous stroma, pale lumina and hematoxylin nuclei. Inflammation: a "
        "region crowded with small, round, uniform lymphocytes; tumour: a region of enlarged, pleomorphic "
        "nuclei with irregular outlines and coarse chromatin; normal: scattered small regular nuclei only.")
def _histo(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    fibres = noise(rng, size, 3, 14) if rng.random() < 0.5 else noise(rng, size, 14, 3)
    eosin = rng.uniform(0.25, 0.5) * (1 + 0.35 * fibres + 0.15 * noise(rng, size, 20))
    lumen = np.zeros((size, size))
    for _ in range(rng.integers(0, 3)):
        lumen = np.maximum(lumen, blob(size, *rng.uniform(-0.9, 0.9, 2), rng.uniform(0.1, 0.3),
                                       aspect=rng.uniform(0.5, 1.5), border=border(rng, 0.1), edge_px=1.0))
    cellularity = rng.uniform(0.07, 0.16)  # nuclear area fraction of the whole tile, whatever the label
    region = np.zeros((size, size))
    if label:
        region = blob(size, *rng.uniform(-0.4, 0.4, 2), rng.uniform(0.4, 0.65), aspect=rng.uniform(0.7, 1.4),
                      border=border(rng, 0.15), edge_px=1.5)
    inside = {0: 0.0, 1: rng.uniform(2.2, 2.8), 2: rng.uniform(1.0, 1.3)}[label] * cellularity
    share = float(region.mean())  # crowding inside the region is paid for by sparser tissue outside
    outside = max(0.3 * cellularity, (cellularity - share * inside) / max(1 - share, 1e-6))
    nuclei = _nuclei(rng, size, outside, 0.045, 0.12, 0.0, (1 - region) * (1 - lumen))
    chromatin = 1 + 0.15 * noise(rng, size, max(4, size // 3))
    if label == 1:
        nuclei = np.maximum(nuclei, _nuclei(rng, size, inside, 0.04, 0.06, 0.0, region))
    elif label == 2:
        nuclei = np.maximum(nuclei, _nuclei(rng, size, inside, 0.08, 0.3, 0.45, region))
        chromatin = chromatin * (1 - 0.3 * region) + 0.3 * region * noise(rng, size, max(4, size // 2))  # vesicular
    hema = rng.uniform(0.8, 1.3) * nuclei * chromatin + 0.05
    img = _stain(rng, hema * (1 - 0.9 * lumen), eosin * (1 - 0.6 * nuclei) * (1 - 0.9 * lumen))
    return finish_rgb(rng, blur_rgb(img, 0.45), cast=0.04), lesion_mask(region)


def _vessel_tree(rng: np.random.Generator, size: int, y0: float, x0: float, toward: float) -> np.ndarray:
    """Retinal vessels leaving the disc at (y0, x0): four arcades with branches; `toward` = +-1 macula side."""
    up = np.array([-1.0, -1.0, 1.0, 1.0])
    temporal = np.array([True, False, True, False])
    sign = np.where((toward > 0) == temporal, 1.0, -1.0)  # +1: the arcade starts rightwards
    angle = np.where(sign > 0, 0.0, np.pi) + up * sign * rng.uniform(0.5, 0.9, 4)
    turn = -up * sign * rng.uniform(0.8, 1.4, 4) * np.where(temporal, 1.0, 0.4)
    ys, xs, head = curves(rng, size, y0, x0, angle, rng.uniform(0.9, 1.4, 4), turn=turn, wiggle=0.6)
    n = ys.shape[1]
    trunk = np.repeat(np.arange(4), rng.integers(1, 6, 4))  # 1-5 branches per arcade
    at = rng.integers(n // 5, n, len(trunk))
    bend = rng.choice([-1.0, 1.0], len(trunk)) * rng.uniform(0.5, 1.1, len(trunk))
    tys, txs, _ = curves(rng, size, ys[trunk, at], xs[trunk, at], head[trunk, at] + bend,
                         rng.uniform(0.2, 0.5, len(trunk)), wiggle=0.9)
    tree = lines(size, ys, xs, rng.uniform(0.55, 0.85)) + 0.7 * lines(size, tys, txs, 0.45)
    return np.clip(tree, 0, 1.2)


@family("fundus", "retinal fundus photograph", 3, ("normal", "haemorrhage", "exudate"), "downstream",
        "Colour fundus photograph: orange retina, bright optic disc, darker macula, branching vessels. "
        "Haemorrhage: scattered dark-red dots and blots; exudate: a cluster of small bright yellow "
        "irregular flecks; normal: neither. Scattered small round drusen and a choroidal pattern occur in "
        "every class; drusen and exudates share one budget of pale area, so their total is label-free.")
def _fundus(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = grid(size)
    fov_r = rng.uniform(0.86, 0.98)
    fov = blob(size, 0, 0, fov_r, edge_px=0.8)
    base = np.array([0.78, 0.36, 0.14]) * np.exp(rng.normal(0, 0.06, 3))
    vignette = 1 - rng.uniform(0.25, 0.45) * ((yy * yy + xx * xx) / fov_r ** 2) ** 1.25
    img = base * (vignette * (1 + 0.07 * noise(rng, size, 6)) * (1 + 0.03 * noise(rng, size, 24)))[..., None]
    side = rng.choice([-1.0, 1.0])
    dy, dx = rng.normal(0, 0.05), side * rng.uniform(0.38, 0.5)
    my, mx = dy + rng.normal(0, 0.05), dx - side * rng.uniform(0.65, 0.8)
    macula = blob(size, my, mx, rng.uniform(0.12, 0.18), edge_px=4.0)
    img = img * (1 - rng.uniform(0.2, 0.35) * macula)[..., None]
    vessels = _vessel_tree(rng, size, dy, dx, -side)
    img = img * (1 - vessels[..., None] * np.array([0.25, 0.55, 0.5]) * rng.uniform(0.7, 1.0))
    sheen = np.clip(blur(vessels, 2.5) - vessels, 0, 1) * (1 + noise(rng, size, 8)).clip(0, 2)
    img = tint(img, (1.0, 0.85, 0.6), rng.uniform(0.0, 1.0) * sheen)  # nerve-fibre-layer reflex along vessels
    disc_r = rng.uniform(0.08, 0.16)
    disc = blob(size, dy, dx, disc_r, aspect=rng.uniform(0.85, 1.0), edge_px=1.0)
    img = tint(img, (1.0, 0.82, 0.55), rng.uniform(0.5, 0.85) * disc)
    cup = blob(size, dy, dx + side * 0.02, disc_r * rng.uniform(0.3, 0.55), edge_px=1.0)
    img = tint(img, (1.0, 0.95, 0.8), 0.6 * cup)
    tessellation = network(rng, size, max(4, size // 6), 0.5) * fov  # choroidal pattern of healthy myopic eyes
    img = img * (1 - rng.uniform(0.0, 0.35) * tessellation[..., None] * np.array([0.3, 0.6, 0.6]))
    inside = fov * (1 - blur(disc, 2.0))
    bright = rng.uniform(0.012, 0.03)  # image fraction of pale spots, split between drusen and exudates
    exudate = bright * rng.uniform(0.6, 1.0) if label == 2 else 0.0
    n = int((bright - exudate) * 4 / (np.pi * 0.03 ** 2))  # drusen: scattered round pale dots, label-free
    drusen = dots(rng, size, *rng.uniform(-0.8, 0.8, (2, n)), rng.uniform(0.025, 0.035, n), 0, 0.8)
    img = tint(img, (0.95, 0.8, 0.5), rng.uniform(0.4, 0.8) * drusen * inside)
    lesion = np.zeros((size, size))
    if label == 1:
        count = rng.integers(6, 14)
        pts = np.array([pick_inside(rng, inside > 0.6) for _ in range(count)]).T
        radii = np.where(rng.random(count) < 0.4, rng.uniform(0.04, 0.06, count), rng.uniform(0.07, 0.11, count))
        lesion = dots(rng, size, pts[0], pts[1], radii, 0.15, 0.8) * inside
        img = tint(img, base * np.array([0.62, 0.32, 0.38]) * rng.uniform(0.85, 1.05), 0.95 * lesion)
    elif label == 2:
        cy, cx = pick_inside(rng, inside > 0.6)
        count = int(exudate * 4 / (np.pi * 0.045 ** 2))
        spread = rng.uniform(0.08, 0.16)
        lesion = dots(rng, size, cy + spread * rng.standard_normal(count), cx + spread * rng.standard_normal(count),
                      rng.uniform(0.035, 0.055, count), 0.3, 0.8) * inside
        img = tint(img, (1.0, 0.88, 0.42), rng.uniform(0.6, 0.9) * lesion)
    return finish_rgb(rng, img * fov[..., None], spread=1.6) * fov[..., None], lesion_mask(lesion)


@family("ultrasound", "breast ultrasound", 1, ("normal", "benign", "malignant"), "downstream",
        "B-mode breast ultrasound sector with speckle, skin line, fat lobules, glandular tissue and "
        "muscle. Benign: an oval, wider-than-tall, smooth-bordered hypoechoic mass; malignant: an "
        "irregular, angular, heterogeneous mass; normal: no mass (hypoechoic fat lobules in every class).")
def _ultrasound(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = grid(size)
    apex = -1.0 - rng.uniform(0.3, 0.6)
    radius, theta = np.sqrt((yy - apex) ** 2 + xx ** 2), np.arctan2(xx, yy - apex)
    half = rng.uniform(0.45, 0.6)
    r0, r1 = -0.95 - apex, 0.98 - apex
    depth = (radius - r0) / (r1 - r0)
    sector = sigmoid((half - np.abs(theta)) * radius * size / 2) * sigmoid(depth * size)
    sector = sector * sigmoid((1 - depth) * size)
    wave = 0.04 * noise(rng, size, 1, 5)
    fat_end, gland_end = rng.uniform(0.2, 0.35) + wave, rng.uniform(0.6, 0.8) + wave
    echo = blur(np.where(depth < fat_end, 0.35, np.where(depth < gland_end, 0.75, 0.5)), 1.2)
    echo = echo * (1 + 0.3 * noise(rng, size, 8)) + 0.6 * np.exp(-0.5 * (depth / 0.015) ** 2)  # + skin line
    echo = echo + 0.25 * (depth > gland_end) * np.cos(radius * size * rng.uniform(0.5, 0.8)) ** 2  # muscle fibres
    lobules = np.zeros((size, size))
    for _ in range(rng.integers(2, 5)):
        ly, lx = rng.uniform(-0.7, 0.5), rng.uniform(-0.6, 0.6)
        lobule = blob(size, ly, lx, rng.uniform(0.08, 0.16), aspect=rng.uniform(1.6, 2.6), angle=rng.normal(0, 0.15),
                      border=border(rng, 0.05, 4), edge_px=1.5)
        lobules = np.maximum(lobules, lobule)
    echo = echo * (1 - rng.uniform(0.4, 0.6) * lobules)
    lesion = np.zeros((size, size))
    if label:
        cy, cx, r = rng.uniform(-0.3, 0.4), rng.uniform(-0.35, 0.35), rng.uniform(0.16, 0.26)
        if label == 1:
            lesion = blob(size, cy, cx, r, aspect=rng.uniform(1.25, 1.7), angle=rng.normal(0, 0.2),
                          border=border(rng, 0.03, 4), edge_px=0.8)
            inner = 1.0
        else:
            lesion = blob(size, cy, cx, r, aspect=rng.uniform(0.75, 1.1), angle=rng.normal(0, 0.3),
                          border=border(rng, rng.uniform(0.15, 0.25), decay=0.9), edge_px=0.8)
            inner = np.clip(1 + 0.5 * noise(rng, size, 10), 0.5, 1.5)
        echo = echo * (1 - lesion * rng.uniform(0.7, 0.9) * inner)
        beneath = yy - cy - r
        below = (np.abs(xx - cx) < r * 0.8) * sigmoid(beneath * size / 4) * np.exp(-np.maximum(beneath, 0) * 1.5)
        echo = echo * (1 + rng.uniform(-0.4, 0.4) * blur(below, 1.5))  # posterior shadow or enhancement
    re, im = (blur(rng.standard_normal((size, size)), 0.8, 1.2) for _ in range(2))  # lateral blur > axial
    speckle = np.sqrt(re * re + im * im)
    speckle = 0.35 + 0.65 * speckle / speckle.mean()  # partly averaged out at this resolution
    intensity = np.clip(echo, 0, None) * speckle * np.exp(-rng.uniform(0.0, 1.0) * depth)
    img = np.log1p(6 * intensity) / np.log1p(12.0)
    return finish_gray(rng, img) * sector[..., None], lesion_mask(lesion)
