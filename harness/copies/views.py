"""Pixels the matcher compares: one gray working image per picture, canvases cut from it by crop
boxes, the 8 dihedral orientations, and the compact embedding used for retrieval.

Every image, whatever its size and channels, becomes a WORK×WORK gray uint8 working image (squashed:
aspect ratios are one of the changes a copy may have undergone). A box (y0, y1, x0, x1), in fractions
of the working image, is area-resampled to a CANVAS×CANVAS float canvas; a crop of a picture is then
a box of the original's working image. The embedding is the 8×8 lowest DCT frequencies (DC left out)
of the standardised canvas: low frequencies survive resizing, JPEG and tone changes.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Iterator

import numpy as np
from PIL import Image
from scipy.fft import dctn
from scipy.ndimage import gaussian_filter1d

from harness.errors import MedbenchError

WORK = 64  # side of the gray working image kept per picture (4 KB as uint8)
CANVAS = 32  # side of the canvases that are embedded and correlated
COARSE = 16  # side of the canvases of the first, coarse refinement steps (from half-size working images)
LOW = 8  # DCT frequencies per axis in the embedding
FULL = np.array([0.0, 1.0, 0.0, 1.0])
ORIENTATIONS = 8  # k·90° rotations (k = o % 4), after a left-right mirror when o ≥ 4


def as_images(images: Iterable[np.ndarray] | np.ndarray) -> Iterator[np.ndarray]:
    """One uint8 HxW or HxWxC array at a time, from a batch array or any iterable of arrays."""
    if isinstance(images, np.ndarray) and images.ndim == 2:
        raise MedbenchError("images must be a batch (N, H, W[, C]) or an iterable of HxW[xC] arrays, not one image")
    for image in images:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
            raise MedbenchError(f"each image must be a uint8 HxW or HxWxC array, got {image.dtype} {image.shape}")
        yield image


def exact_digest(image: np.ndarray) -> str:
    """blake2b-128 of shape and pixel bytes: equal iff the decoded pixels are equal."""
    header = f"{image.shape}".encode()
    return hashlib.blake2b(header + np.ascontiguousarray(image).tobytes(), digest_size=16).hexdigest()


def working_image(image: np.ndarray) -> np.ndarray:
    """(WORK, WORK) uint8 luminance (ITU-R 601, as PIL's convert("L")), resampled bilinearly with
    PIL's antialiasing; gray and RGB(A) inputs alike, so gray ↔ RGB copies meet."""
    if image.ndim == 3:
        if image.shape[2] in (3, 4):
            gray = Image.fromarray(np.ascontiguousarray(image[..., :3])).convert("L")
        elif image.shape[2] == 1:
            gray = Image.fromarray(np.ascontiguousarray(image[..., 0]))
        else:
            raise MedbenchError(f"images need 1, 3 or 4 channels, got {image.shape[2]}")
    else:
        gray = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(gray.resize((WORK, WORK), Image.Resampling.BILINEAR))


def canvases(work: np.ndarray, boxes: np.ndarray, side: int = CANVAS) -> np.ndarray:
    """(n, side, side) float32: box i of working image i, area-resampled (boxes broadcast)."""
    return resampled(work, *box_resamplers(boxes, len(work), side, work.shape[-1]))


def halved(work: np.ndarray) -> np.ndarray:
    """(..., WORK/2, WORK/2) float32 working images, 2x2 pixel means: for coarse canvases (`COARSE`)."""
    w = work.astype(np.float32, copy=False)  # strided sums: 6x faster than a mean over reshaped axes
    return (w[..., ::2, ::2] + w[..., 1::2, ::2] + w[..., ::2, 1::2] + w[..., 1::2, 1::2]) * 0.25


def box_resamplers(boxes: np.ndarray, n: int, side: int = CANVAS, work: int = WORK) -> tuple[np.ndarray, np.ndarray]:
    """(n, side, work) row and column area-resampling matrices of n boxes (broadcast), so several
    pictures cut by the same boxes share them."""
    boxes = np.broadcast_to(np.asarray(boxes, dtype=np.float32), (n, 4))
    return _interval_matrices(boxes[:, 0:2] * work, side, work), _interval_matrices(boxes[:, 2:4] * work, side, work)


def resampled(work: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Working images (..., WORK, WORK) cut and resampled by `box_resamplers` matrices (..., CANVAS,
    WORK); leading axes broadcast, so one picture can be cut by many boxes without copying it."""
    return np.matmul(np.matmul(rows, work.astype(np.float32, copy=False)), np.swapaxes(cols, -1, -2))


def oriented(canvas: np.ndarray, orientation: np.ndarray | int) -> np.ndarray:
    """Each canvas in its own dihedral orientation (an int applies one to all)."""
    orientation = np.broadcast_to(np.asarray(orientation), (len(canvas),))
    out = np.empty_like(canvas)
    for o in np.unique(orientation):
        pick = orientation == o
        turned = canvas[pick][:, :, ::-1] if o >= 4 else canvas[pick]
        out[pick] = np.rot90(turned, int(o) % 4, axes=(1, 2))
    return out


def standardised(canvas: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per canvas (flat ones stay zero): brightness and contrast drop out."""
    centred = canvas - canvas.mean(axis=(1, 2), keepdims=True)
    flat = centred.reshape(len(centred), -1)
    scale = np.sqrt(np.einsum("ni,ni->n", flat, flat) / max(1, flat.shape[1]))
    centred /= np.where(scale > 1e-6, scale, np.inf)[:, None, None]  # in place: 3x faster than a masked divide
    return centred


def embedding(canvas: np.ndarray) -> np.ndarray:
    """(n, LOW²-1) float32: low DCT frequencies of the standardised canvas, DC left out."""
    coeffs = dctn(standardised(canvas), type=2, norm="ortho", axes=(1, 2))[:, :LOW, :LOW]
    return coeffs.reshape(len(canvas), -1)[:, 1:].astype(np.float32)


def smooth_and_detail(canvas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The standardised canvas lightly blurred (resampling and JPEG noise are fine detail), and that
    minus a heavy blur (band-pass: what tells a copy from a picture that only shares the layout).
    Coarse canvases (`COARSE` side) are blurred by half as many of their (twice as large) pixels."""
    # blurs keep constants (replicated edges), so standardising the canvas first would change nothing
    fine, heavy = _BLURS[canvas.shape[-1]]
    smooth = fine @ canvas @ fine.T
    detail = smooth - heavy @ canvas @ heavy.T
    return standardised(smooth), standardised(detail)


def correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pair mean product of standardised canvases: their Pearson correlation."""
    return np.einsum("nij,nij->n", a, b) / (a.shape[1] * a.shape[2])


def _interval_matrices(intervals: np.ndarray, side: int, work: int) -> np.ndarray:
    """`_area_matrices` of (n, 2) pixel intervals, each distinct interval computed once (the boxes a
    refinement step tries share most of their edges)."""
    unique, inverse = np.unique(intervals, axis=0, return_inverse=True)
    return _area_matrices(unique[:, 0], unique[:, 1], side, work)[inverse.reshape(-1)]


def _area_matrices(lo: np.ndarray, hi: np.ndarray, side: int, work: int) -> np.ndarray:
    """(n, side, work) weights averaging the working pixels each canvas pixel covers in [lo, hi)."""
    edges = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, side + 1, dtype=np.float32)[None, :]
    start, stop = edges[:, :-1, None], edges[:, 1:, None]
    pixel = np.arange(work, dtype=np.float32)[None, None, :]
    overlap = np.minimum(stop, pixel + 1)
    overlap -= np.maximum(start, pixel)
    np.maximum(overlap, 0.0, out=overlap)
    covered = np.clip(stop, 0.0, work) - np.clip(start, 0.0, work)  # the row's sum, without summing it
    overlap /= np.maximum(covered, 1e-9)
    return overlap


def _blur_matrix(sigma: float, side: int) -> np.ndarray:
    """(side, side) Gaussian blur along one axis, edges replicated (scipy's mode="nearest")."""
    return gaussian_filter1d(np.eye(side, dtype=np.float32), sigma, axis=0, mode="nearest")


_BLURS = {side: (_blur_matrix(0.7 * side / CANVAS, side), _blur_matrix(3.0 * side / CANVAS, side))  # canvas pixels
          for side in (CANVAS, COARSE)}
