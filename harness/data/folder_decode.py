"""Folder datasets' image and mask files decoded to uint8 arrays, once: decoded a chunk at a time into the
pixel store (`store/folders/<task>-<key>`, keyed by the card and by every file's path, size and mtime), then
read back whole when they fit in memory (harness.data.placement), by rows otherwise."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import PIL
from PIL import Image

from harness.data.loader import Item
from harness.data.placement import place
from harness.data.rows import StoredRows
from harness.data.store import Store, StoreBuilder, build_store, store_root
from harness.errors import MedbenchError

if TYPE_CHECKING:
    from harness.tasks import TaskSpec

CACHE_VERSION = 2  # bump when decoding changes: it is part of the key (2: the pixel store, not an .npz)
DECODE_CHUNK = 256  # items decoded at once (a thread per core), then written
MASK_THRESHOLD = 127
NOT_BINARY_FRACTION = 0.1  # a binary mask with more mid-gray pixels than this is probably an image


def decoded(spec: "TaskSpec", args: dict[str, Any],
            items: list[Item]) -> tuple[Store, np.ndarray | StoredRows, np.ndarray | StoredRows]:
    """(store, images, targets) in item order, decoded the first time the files are seen; in memory when they
    fit, else stored rows (labels are always held: they are small)."""
    files = [path for item in items for path in (item.image, *item.masks)]
    key = _cache_key(spec, args, files, [item.key for item in items], [item.label for item in items])
    folder = store_root() / "folders" / f"{spec.name}-{key}"
    store = build_store(folder, lambda builder: _decode_into(builder, spec, args, items))
    _remove_stale(folder, spec.name)
    images, targets = store.rows("images"), store.rows("targets")
    if place(int(np.prod(images.shape)) + int(np.prod(targets.shape))).in_memory:
        return store, np.asarray(images), np.asarray(targets)
    return store, images, targets if spec.kind.segmentation else np.asarray(targets)


def _cache_key(spec: "TaskSpec", args: dict[str, Any], files: list[Path], keys: list[str], labels: list[Any]) -> str:
    digest = hashlib.sha256(json.dumps(
        {"version": CACHE_VERSION, "pillow": PIL.__version__, "loader": spec.source.loader, "args": args, "kind": spec.kind,
         "labels": spec.label_names, "size": spec.image_size, "channels": spec.channels, "keys": keys,
         "targets": labels}, sort_keys=True, default=str).encode())
    for file in files:
        stat = file.stat()
        digest.update(f"{file.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _remove_stale(folder: Path, name: str) -> None:
    """Older decodings of the same task (its files or card changed) are removed."""
    stale = re.compile(rf"{re.escape(name)}-[0-9a-f]{{24}}")
    with contextlib.suppress(OSError):
        for old in folder.parent.iterdir():
            if old != folder and stale.fullmatch(old.name):
                shutil.rmtree(old, ignore_errors=True)


def _decode_into(builder: StoreBuilder, spec: "TaskSpec", args: dict[str, Any], items: list[Item]) -> dict[str, Any]:
    """Images (and segmentation masks) decoded DECODE_CHUNK files at a time and written as they come."""
    size, channels, n = spec.image_size, spec.channels, len(items)
    images = ((n, size, size, channels), np.dtype(np.uint8))
    if spec.kind.segmentation:
        mode = str(args.get("mask_mode", "binary"))

        def decode(item: Item) -> tuple[np.ndarray, np.ndarray]:
            image, native = _decode_image(item.image, size, channels)
            return image, _decode_masks(item.masks, native, item.image, size, mode, spec.num_classes)

        builder.write_together({"images": images, "targets": ((n, size, size), np.dtype(np.uint8))},
                               _decoded_chunks(items, decode))
    else:
        def decode_image(item: Item) -> tuple[np.ndarray]:
            return (_decode_image(item.image, size, channels)[0],)

        builder.write_together({"images": images}, _decoded_chunks(items, decode_image))
        labels = np.array([item.label for item in items], dtype=np.uint8 if spec.kind.multilabel else np.int64)
        builder.write("targets", labels.shape, labels.dtype, iter([labels]))
    return {"decoded": {"task": spec.name, "count": n, "size": size, "channels": channels}}


def _decoded_chunks(items: list[Item], decode: Callable[[Item], tuple[np.ndarray, ...]]) -> Iterator[tuple[np.ndarray, ...]]:
    """Per DECODE_CHUNK items, each array's rows stacked; files decoded by a thread per core (PIL releases the
    GIL), the first bad file in item order named by the error."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for start in range(0, len(items), DECODE_CHUNK):
            futures = [pool.submit(decode, item) for item in items[start:start + DECODE_CHUNK]]
            try:
                parts = [future.result() for future in futures]
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
            yield tuple(np.stack(rows) for rows in zip(*parts))


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MedbenchError(f"cannot read image {path} ({exc}); replace or remove the file") from None


def _pixels(path: Path, image: Image.Image, convert: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    """Decode through `convert`, turning a truncated or corrupt file into a one-line error."""
    try:
        return np.asarray(convert(image))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MedbenchError(f"cannot read image {path} ({exc}); replace or remove the file") from None


def _to_8bit(image: Image.Image) -> Image.Image:
    """16/32-bit gray (some ultrasound and X-ray PNGs) scaled to 0..255; PIL's convert would clip it."""
    if image.mode not in ("I", "I;16", "I;16B", "I;16L", "F"):
        return image
    values = np.asarray(image, dtype=np.float64)
    top = 65535.0 if values.max() > 255 else 255.0
    return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8))


def _decode_image(path: Path, size: int, channels: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(size, size, channels) uint8 and the file's own (width, height)."""
    mode = "L" if channels == 1 else "RGB"
    with _open(path) as image:
        native = image.size
        image.draft(mode, (size, size))  # JPEG: decode at a reduced scale that is still ≥ size
        pixels = _pixels(path, image, lambda im: _to_8bit(im).convert(mode).resize((size, size), Image.Resampling.BILINEAR))
    return pixels.reshape(size, size, channels), native


def _decode_masks(paths: tuple[Path, ...], native: tuple[int, int], image: Path, size: int, mode: str,
                  num_classes: int) -> np.ndarray:
    """One (size, size) uint8 class-index mask; several binary masks of one image are merged."""
    if mode == "indexed" and len(paths) > 1:
        raise MedbenchError(f"image {image} has {len(paths)} masks; indexed masks must be one file per image")
    merged = np.zeros((size, size), dtype=np.uint8)
    for path in paths:
        with _open(path) as mask:
            if mask.size != native:
                raise MedbenchError(f"mask {path} is {mask.size[0]}×{mask.size[1]} but its image {image} is "
                                    f"{native[0]}×{native[1]}: a mask must match its image pixel for pixel")
            if mode == "indexed":
                merged = _indexed_mask(path, mask, size, num_classes)
            else:
                merged |= _binary_mask(path, mask, size)
    return merged


def _binary_mask(path: Path, mask: Image.Image, size: int) -> np.ndarray:
    """0/1 masks are read as they are; 0/255 masks (JPEG artefacts included) are thresholded at 127."""
    values = _pixels(path, mask, lambda im: _to_8bit(im).convert("L"))
    top = int(values.max())
    if top <= 1:
        return np.asarray(Image.fromarray(values).resize((size, size), Image.Resampling.NEAREST))
    if top <= MASK_THRESHOLD:
        raise MedbenchError(f"mask {path} has values 0..{top}: that looks like class ids, not a binary mask; "
                            f"set source.args.mask_mode: indexed with one label_name per class")
    grey = float(((values > 32) & (values < 223)).mean())
    if grey > NOT_BINARY_FRACTION:
        raise MedbenchError(f"mask {path} is not binary: {grey:.0%} of its pixels are mid-gray; is it an image "
                            f"in the masks folder?")
    small = Image.fromarray(values).resize((size, size), Image.Resampling.BILINEAR)
    return (np.asarray(small) > MASK_THRESHOLD).astype(np.uint8)


def _indexed_mask(path: Path, mask: Image.Image, size: int, num_classes: int) -> np.ndarray:
    """Gray or palette masks whose values (palette indices) are class ids below num_classes."""
    if mask.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        raise MedbenchError(f"mask {path} is {mask.mode}; indexed masks must be gray or palette images of class ids")
    values = _pixels(path, mask, lambda im: im)
    top = int(values.max())
    if top >= num_classes:
        raise MedbenchError(f"mask {path} has class id {top} but the card has {num_classes} label_names "
                            f"(ids 0..{num_classes - 1})")
    small = Image.fromarray(values.astype(np.uint8)).resize((size, size), Image.Resampling.NEAREST)
    return np.asarray(small)

