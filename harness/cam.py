"""Class activation maps (Grad-CAM through captum) and how well they land on the lesion.

A CAM becomes a number where a task has lesion masks: the share of CAM energy inside the mask and
the pointing-game hit rate (does the CAM's peak fall on the lesion?). CNNs are explained at their
deepest feature stage that is still at least 7×7 at the input size. For ViTs the patch tokens entering the last block are viewed as a grid — the
class token only reaches the patches through that block's attention, so later layers carry no
patch gradient.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam
from matplotlib import colormaps
from PIL import Image
from torch import nn

POINTING_TOLERANCE = 0.05  # of the image side: the pointing game's 15 px at 224 px (Zhang et al. 2018), scaled
OVERLAY_SIDE = 192  # px of each panel in the saved PNGs
MIN_CAM_SIDE = 7  # the coarsest CAM grid used for a CNN: 7×7 is the usual last stage at 224 px (see cnn_stage)


class _TokenGrid(nn.Module):
    """Identity on ViT tokens that routes the patch tokens through a (B, D, h, w) map captum can hook."""

    def __init__(self, prefix_tokens: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.prefix_tokens, self.grid = prefix_tokens, grid
        self.spatial = nn.Identity()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        prefix, patches = tokens[:, : self.prefix_tokens], tokens[:, self.prefix_tokens:]
        grid = patches.transpose(1, 2).reshape(len(tokens), -1, *self.grid)
        grid = self.spatial(grid)
        return torch.cat([prefix, grid.flatten(2).transpose(1, 2)], dim=1)


def _is_vit(model: nn.Module) -> bool:
    return hasattr(model, "blocks") and hasattr(model, "patch_embed")


def cnn_stage(model: nn.Module, image_side: int) -> str:
    """The deepest feature stage whose map is at least MIN_CAM_SIDE wide at this input size.

    Grad-CAM's usual last stage is 2×2 for a 64 px ResNet input — too coarse to tell where a small
    lesion is — so small inputs are explained one or two stages earlier.
    """
    stages = model.feature_info
    for stage in reversed(stages):
        if image_side // stage["reduction"] >= MIN_CAM_SIDE:
            return stage["module"]
    return stages[0]["module"]


@contextlib.contextmanager
def cam_layer(model: nn.Module, image_side: int) -> Iterator[tuple[nn.Module, str]]:
    """The layer Grad-CAM attributes to, and its name; a ViT gets a temporary token-grid adapter."""
    if not _is_vit(model):
        name = cnn_stage(model, image_side)
        yield model.get_submodule(name), name
        return
    last = model.blocks[-1]
    adapter = _TokenGrid(model.num_prefix_tokens, tuple(model.patch_embed.grid_size))
    model.blocks[-1] = nn.Sequential(adapter, last)
    try:
        yield adapter.spatial, f"blocks.{len(model.blocks) - 1} input (patch tokens as a grid)"
    finally:
        model.blocks[-1] = last


def class_activation_maps(model: nn.Module, images: torch.Tensor, targets: torch.Tensor,
                          batch_size: int = 64) -> tuple[torch.Tensor, str]:
    """Grad-CAM of each image for its target class → (N, H, W) in [0, 1] (each map scaled by its max)."""
    was_training = model.training
    model.eval()
    maps = []
    try:
        with cam_layer(model, images.shape[-1]) as (layer, name):
            gradcam = LayerGradCam(model, layer)
            for start in range(0, len(images), batch_size):
                x = images[start:start + batch_size].float().requires_grad_(True)
                attribution = gradcam.attribute(x, target=targets[start:start + batch_size].tolist(), relu_attributions=True)
                cam = F.interpolate(attribution.detach().float(), size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
                peak = cam.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)
                maps.append((cam / peak).cpu())
    finally:
        model.train(was_training)
    return torch.cat(maps), f"Grad-CAM (captum LayerGradCam) at {name}"


def localisation_scores(cams: torch.Tensor, masks: torch.Tensor) -> dict[str, Any]:
    """Energy share inside the mask and pointing-game hits, over images that have a lesion."""
    masks = masks.cpu().bool()
    has_lesion = masks.flatten(1).any(dim=1)
    if not has_lesion.any():
        return {}
    cams, masks = cams[has_lesion], masks[has_lesion]
    energy = cams.flatten(1).sum(dim=1)
    inside = (cams * masks).flatten(1).sum(dim=1)
    share = torch.where(energy > 0, inside / energy.clamp_min(1e-12), torch.zeros_like(energy))
    side = cams.shape[-1]
    tolerance = max(1, round(POINTING_TOLERANCE * side))
    near_lesion = F.max_pool2d(masks[:, None].float(), 2 * tolerance + 1, stride=1, padding=tolerance)[:, 0] > 0
    peak = cams.flatten(1).argmax(dim=1)
    hits = near_lesion.flatten(1).gather(1, peak[:, None])[:, 0]
    return {
        "cam_energy_in_mask": share.mean().item(),
        "cam_pointing_game": hits.float().mean().item(),
        "cam_energy_in_mask_uniform": masks.flatten(1).float().mean(dim=1).mean().item(),
        "cam_images_scored": int(has_lesion.sum()),
        "cam_pointing_tolerance_px": tolerance,
    }


def _panel(image: np.ndarray) -> Image.Image:
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    return Image.fromarray(rgb).resize((OVERLAY_SIDE, OVERLAY_SIDE), Image.BILINEAR)


def _outline(mask: np.ndarray) -> np.ndarray:
    big = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((OVERLAY_SIDE, OVERLAY_SIDE), Image.NEAREST)) > 0
    eroded = big.copy()
    eroded[1:-1, 1:-1] = big[1:-1, 1:-1] & big[:-2, 1:-1] & big[2:, 1:-1] & big[1:-1, :-2] & big[1:-1, 2:]
    return big & ~eroded


def save_overlay(path: Path, image: np.ndarray, cam: np.ndarray, mask: np.ndarray | None) -> None:
    """image | CAM over image (jet, alpha 0.45), the lesion outline in white on both."""
    base = _panel(image)
    heat = colormaps["jet"](np.asarray(Image.fromarray((cam * 255).astype(np.uint8)).resize(base.size, Image.BILINEAR)) / 255.0)
    blended = (0.55 * np.asarray(base, dtype=np.float32) + 0.45 * heat[..., :3] * 255).astype(np.uint8)
    panels = [np.asarray(base).copy(), blended]
    if mask is not None and mask.any():
        edge = _outline(mask)
        for panel in panels:
            panel[edge] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([panels[0], np.full((OVERLAY_SIDE, 4, 3), 255, np.uint8), panels[1]], axis=1)).save(path)


def gallery_indices(masks: np.ndarray | None, n_images: int, count: int = 8) -> list[int]:
    """A fixed (seed-0) choice of test images, lesions first, so every init is shown the same ones."""
    pool = np.arange(n_images)
    if masks is not None:
        with_lesion = pool[masks.reshape(n_images, -1).any(axis=1)]
        pool = with_lesion if len(with_lesion) >= count else pool
    return sorted(np.random.default_rng(0).choice(pool, size=min(count, len(pool)), replace=False).tolist())
