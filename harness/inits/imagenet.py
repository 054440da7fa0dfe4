"""`imagenet`: the weights timm ships for a backbone, fetched from (or found in the cache of) the Hub.

`resnet50` means timm's default tag (`resnet50.a1_in1k`), not torchvision's weights, so the tag,
Hub repo and commit are all recorded; `resnet50.tv_in1k` picks another tag.
"""

from __future__ import annotations

from typing import Any

from harness.errors import MedbenchError
from harness.inits.base import INIT_SOURCES, ResolvedWeights, no_argument
from harness.inits.hub import download_weights
from harness.inits.safe_load import load_weights_file


@INIT_SOURCES.register("imagenet")
class ImageNetSource:
    name = "imagenet"
    description = "timm's pretrained weights for the backbone's default tag (or NAME.TAG) from the Hugging Face Hub"

    def __init__(self, arg: str | None = None) -> None:
        no_argument(self.name, arg)

    def resolve(self, backbone: str) -> ResolvedWeights:
        import timm  # imported late: it imports huggingface_hub, which freezes HF_HUB_* (see hub.py)

        cfg = _pretrained_cfg(backbone)
        tagged = f"{cfg.architecture}.{cfg.tag}"
        if not (cfg.hf_hub_id or cfg.url or cfg.file):
            raise MedbenchError(f"timm has no pretrained weights for {backbone}; use --init scratch or file:PATH")
        if not cfg.hf_hub_id:
            raise MedbenchError(f"timm's weights for {tagged} are not on the Hugging Face Hub but at "
                                f"{cfg.url or cfg.file}; download them yourself and pass --init file:PATH")  # fmt: skip
        repo_id, _, revision = cfg.hf_hub_id.partition("@")
        if not repo_id.startswith("timm/"):
            # Repos outside timm/ may need the model's checkpoint filter to reach timm's key space.
            raise MedbenchError(f"timm's weights for {tagged} live in {repo_id}, outside timm's Hub layout; "
                                "convert them with timm and pass --init file:PATH")  # fmt: skip
        hub_file = download_weights(repo_id, revision or None)
        state_dict, sha256 = load_weights_file(hub_file.path)
        provenance: dict[str, Any] = {
            "source": "imagenet",
            "reference": f"hf:{repo_id}@{hub_file.commit}",
            "timm_tag": tagged,
            "hub_repo": repo_id,
            "revision": hub_file.commit,
            "file": hub_file.filename,
            "license": cfg.license,
            "timm_version": timm.__version__,
        }
        return ResolvedWeights(state_dict, sha256, provenance, mean=tuple(cfg.mean), std=tuple(cfg.std))


def _pretrained_cfg(backbone: str) -> Any:
    import timm
    from timm.models import get_pretrained_cfg, split_model_name_tag

    architecture, tag = split_model_name_tag(backbone)
    try:
        cfg = get_pretrained_cfg(backbone)
    except RuntimeError:  # the architecture exists but not this tag
        tags = ", ".join(timm.list_pretrained(f"{architecture}.*"))
        raise MedbenchError(f"timm has no pretrained tag {tag!r} for {architecture}; known: {tags}") from None
    if cfg is None:
        if not timm.is_model(architecture):
            raise MedbenchError(f"unknown backbone {backbone!r}; pick a name from timm.list_models()")
        raise MedbenchError(f"timm has no pretrained weights for {backbone}; use --init scratch or --init file:PATH")
    return cfg
