"""Build a classifier or segmenter for any timm backbone and load an init source's weights into it, with a report.

Weights arrive as a plain state_dict in timm's key space (see `harness.inits`). Loading adapts the
first conv to the task's channels, resamples ViT position embeddings through timm's own filter,
drops the pretrained head (the task's head is freshly initialised), and refuses weights that match
too little of the backbone to be what they claim.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from typing import Any

import timm
import torch
from torch import nn

from harness.errors import MedbenchError, UnknownNameError

MIN_MATCHED_FRACTION = 0.9
MAX_UNEXPECTED_FRACTION = 0.1  # weights of e.g. ResNet-34 would otherwise "fully match" a ResNet-18
STEMS = ("default", "small")


def check_backbone(name: str) -> None:
    if not timm.is_model(name):
        arch = name.split(".")[0]
        close = difflib.get_close_matches(arch, timm.list_models(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(f"unknown backbone {name!r}{hint} (any timm model name works; see timm.list_models())")


def _fixed_input_size(name: str) -> bool:
    cfg = timm.models.get_pretrained_cfg(name.split(".")[0], allow_unregistered=True)
    return bool(cfg is not None and cfg.fixed_input_size)


def _create_kwargs(name: str, image_size: int) -> dict[str, Any]:
    """Models with a fixed input size (ViTs) are built for the task's size; CNNs take any size."""
    return {"img_size": image_size} if _fixed_input_size(name) else {}


def apply_small_stem(model: nn.Module, in_chans: int) -> None:
    """MedMNIST's small-input ResNet stem: 3×3 stride-1 conv and no max-pool, for 28–64 px inputs."""
    if not (isinstance(getattr(model, "conv1", None), nn.Conv2d) and hasattr(model, "maxpool")):
        raise MedbenchError("--stem small applies to ResNet-family backbones only (a 'conv1' conv and a 'maxpool')")
    out_chans = model.conv1.out_channels
    model.conv1 = nn.Conv2d(in_chans, out_chans, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()


def build_classifier(backbone: str, num_classes: int, in_chans: int, image_size: int, stem: str = "default") -> nn.Module:
    check_backbone(backbone)
    if stem not in STEMS:
        raise MedbenchError(f"unknown stem {stem!r}; choose one of {', '.join(STEMS)}")
    model = timm.create_model(backbone, pretrained=False, num_classes=num_classes, in_chans=in_chans,
                              **_create_kwargs(backbone, image_size))
    if stem == "small":
        apply_small_stem(model, in_chans)
    return model


def build_segmenter(backbone: str, num_classes: int, in_chans: int, image_size: int) -> nn.Module:
    """smp Unet on a `tu-` timm encoder for CNNs; smp DPT for ViTs (a Unet needs multi-scale features)."""
    import segmentation_models_pytorch as smp

    check_backbone(backbone)
    common = {"encoder_weights": None, "in_channels": in_chans, "classes": num_classes}
    if _fixed_input_size(backbone):
        return smp.DPT(f"tu-{backbone}", img_size=image_size, **common)
    return smp.Unet(f"tu-{backbone}", **common)


def weights_target(model: nn.Module) -> nn.Module:
    """The module whose state_dict is in timm's key space: the model itself, or a segmenter's timm encoder."""
    encoder = getattr(model, "encoder", None)
    return getattr(encoder, "model", model) if encoder is not None else model


@dataclass
class LoadReport:
    """What loading weights did, key by key, so a record can say how much of the backbone was transferred."""

    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mis_shaped: list[str] = field(default_factory=list)
    head_reinitialised: list[str] = field(default_factory=list)
    adapted_input_conv: bool = False

    @property
    def backbone_tensors(self) -> int:
        return len(self.matched) + len(self.missing) + len(self.mis_shaped)

    @property
    def matched_fraction(self) -> float:
        return len(self.matched) / self.backbone_tensors if self.backbone_tensors else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "matched": len(self.matched), "missing": len(self.missing), "unexpected": len(self.unexpected),
            "mis_shaped": len(self.mis_shaped), "head_reinitialised": len(self.head_reinitialised),
            "matched_fraction": round(self.matched_fraction, 4), "adapted_input_conv": self.adapted_input_conv,
            "first_missing": self.missing[:5], "first_unexpected": self.unexpected[:5], "first_mis_shaped": self.mis_shaped[:5],
        }


def _is_counted(key: str) -> bool:
    return not key.endswith("num_batches_tracked")


def _prefixes(model: nn.Module, cfg_key: str) -> tuple[str, ...]:
    value = model.pretrained_cfg.get(cfg_key) if hasattr(model, "pretrained_cfg") else None
    if not value:
        return ()
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _backbone_heads(backbone: str) -> tuple[str, ...]:
    """A features-only encoder has no classifier in its config; the architecture's default one names the head."""
    cfg = timm.models.get_pretrained_cfg(backbone.split(".")[0], allow_unregistered=True) if backbone else None
    head = cfg.classifier if cfg is not None else None
    return (tuple(head) if isinstance(head, (list, tuple)) else (head,)) if head else ()


def _timm_filter(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """timm's per-architecture checkpoint filter (e.g. ViT position-embedding resampling), when it has one."""
    module = sys.modules.get(type(model).__module__)
    filter_fn = getattr(module, "checkpoint_filter_fn", None)
    if filter_fn is not None:
        try:
            return filter_fn(dict(state_dict), model)
        except Exception:  # noqa: BLE001 - a filter that cannot handle foreign weights leaves them as they are
            pass
    return dict(state_dict)


def _adapt_input_conv(state_dict: dict[str, torch.Tensor], model_sd: dict[str, torch.Tensor], first_convs: tuple[str, ...]) -> bool:
    adapted = False
    for conv in first_convs:
        key = f"{conv}.weight"
        if key in state_dict and key in model_sd and state_dict[key].ndim == 4:
            have, want = state_dict[key].shape[1], model_sd[key].shape[1]
            if have != want and state_dict[key].shape[2:] == model_sd[key].shape[2:]:
                state_dict[key] = timm.models.adapt_input_conv(want, state_dict[key].float())
                adapted = True
    return adapted


def load_backbone_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], *, required_fraction: float = MIN_MATCHED_FRACTION,
                          backbone: str = "") -> LoadReport:
    """Load what fits, report the rest; fewer than `required_fraction` of backbone tensors matched is an error.

    `model` may be a timm classifier or an smp segmenter; weights go into its timm part. The
    classifier keys of the weights' own architecture (e.g. `fc`, `head`) count as a replaced head.
    """
    model = weights_target(model)
    model_sd = model.state_dict()
    heads = _prefixes(model, "classifier") or _backbone_heads(backbone)
    is_head = lambda key: any(key == h or key.startswith(h + ".") for h in heads)  # noqa: E731
    incoming = _timm_filter(state_dict, model)
    report = LoadReport(adapted_input_conv=_adapt_input_conv(incoming, model_sd, _prefixes(model, "first_conv")))
    to_load: dict[str, torch.Tensor] = {}
    for key, value in incoming.items():
        if not _is_counted(key):
            continue
        if is_head(key):
            report.head_reinitialised.append(key)
        elif key not in model_sd:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(model_sd[key].shape):
            report.mis_shaped.append(f"{key} {tuple(value.shape)}→{tuple(model_sd[key].shape)}")
        elif value.is_floating_point() != model_sd[key].is_floating_point():
            raise MedbenchError(f"tensor {key!r} of the weights is {value.dtype} where "
                                f"{backbone or type(model).__name__} holds {model_sd[key].dtype}; weights are not "
                                "cast between integer and floating types: re-export them as saved by the model")
        else:
            to_load[key] = value
            report.matched.append(key)
    report.missing = [k for k in model_sd if _is_counted(k) and not is_head(k) and k not in incoming]
    if report.matched_fraction < required_fraction:
        detail = (report.mis_shaped or report.missing or ["nothing"])[0]
        raise MedbenchError(
            f"the weights match only {report.matched_fraction:.0%} of {backbone or type(model).__name__}'s "
            f"{report.backbone_tensors} backbone tensors (first problem: {detail}); are they for another architecture?"
        )
    offered = len(report.matched) + len(report.unexpected) + len(report.mis_shaped)
    if offered and len(report.unexpected) / offered > MAX_UNEXPECTED_FRACTION:
        raise MedbenchError(
            f"{len(report.unexpected)} of the {offered} backbone tensors in the weights have no place in "
            f"{backbone or type(model).__name__} (first: {report.unexpected[0]}); they look like a larger model of "
            "the same family: pass the backbone they were trained as"
        )
    model.load_state_dict(to_load, strict=False)
    return report
