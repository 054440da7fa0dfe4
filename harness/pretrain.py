"""Supervised pretraining on a built CPMID, written as a release in the Hub/timm layout.

A release folder holds `model.safetensors` (timm keys, head included), `config.json` (timm's
layout, so `timm.create_model("local-dir:FOLDER")` reads it too) and a `README.md` model card.
Local releases live under $MEDBENCH_HOME/releases/<recipe>/<backbone>/<protocol>/, where the
`cpmid` init source looks for them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import save_file

from harness.cpmid.licences import use_statement
from harness.data.arrays import ArrayDataset, TaskData
from harness.data.batches import BatchTransform, limit
from harness.data.prepare import prepare_split
from harness.engine import TrainingRun, seed_everything
from harness.errors import MedbenchError
from harness.kinds import TaskKind
from harness.models import build_classifier, check_backbone
from harness.names import safe_name
from harness.objectives import objective_for
from harness.paths import medbench_home
from harness.protocols import Protocol
from harness.provenance import now_utc, software

Report = Callable[[str], None]
CPMID_MEAN, CPMID_STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)  # fixed, declared input normalisation of our releases


def cpmid_folder(recipe: str) -> Path:
    return medbench_home() / "cpmid" / safe_name(recipe, "recipe name")


def release_folder(recipe: str, backbone: str, protocol: str) -> Path:
    return medbench_home() / "releases" / safe_name(recipe, "recipe name") / safe_name(backbone, "backbone") / safe_name(protocol, "protocol name")


def ensure_cpmid(recipe: str, data_dir: Path | None, report: Report) -> Path:
    """The built CPMID for a recipe under $MEDBENCH_HOME, building it first when absent."""
    from harness.cpmid import build_cpmid

    folder = cpmid_folder(recipe)
    if not (folder / "manifest.json").is_file():
        report(f"building CPMID recipe {recipe} into {folder}")
        build_cpmid(recipe, folder, data_dir=data_dir, progress=report)
    return folder


def _single_label(data: TaskData) -> TaskData:
    """Multi-hot targets of single-label sources → class indices, so pretraining uses softmax cross-entropy."""
    def convert(ds: ArrayDataset) -> ArrayDataset:
        return ArrayDataset(ds.images, ds.targets.argmax(axis=1).astype(np.int64), ds.masks)
    return TaskData(convert(data.train), convert(data.val), convert(data.test))


def pretrain(recipe: str, backbone: str, protocol: Protocol, *, out: Path | None = None, data_dir: Path | None = None,
             device: torch.device, report: Report = print, progress: bool = True) -> Path:
    """Pretrain `backbone` on the recipe's CPMID and write the release folder; returns its path."""
    from harness.cpmid import open_cpmid, to_task_data

    check_backbone(backbone)
    cpmid = open_cpmid(ensure_cpmid(recipe, data_dir, report))
    manifest = cpmid.manifest
    multilabel = bool(manifest.get("multilabel_sources"))
    data = to_task_data(cpmid)
    kind = TaskKind.MULTILABEL if multilabel else TaskKind.MULTICLASS
    if not multilabel:
        data = _single_label(data)
    image_size = protocol.image_size or int(manifest["image_size"])
    channels = int(manifest["channels"])
    num_classes = len(cpmid.label_names)
    seed = protocol.seeds[0]
    seed_everything(seed)
    model = build_classifier(backbone, num_classes, channels, image_size, stem=protocol.stem)
    device_splits = {name: prepare_split(limit(data.split(name), protocol.train_limit if name == "train" else protocol.eval_limit),
                                         image_size, kind, device) for name in ("train", "val")}
    report(f"pretraining {backbone} on {recipe} ({len(data.train)} train images, {num_classes} labels) with {protocol.name}")
    run = TrainingRun(model, objective_for(kind, num_classes, protocol), protocol, seed,
                      BatchTransform(CPMID_MEAN[:channels], CPMID_STD[:channels], protocol.augmentation, device), device)
    folder = out or release_folder(recipe, backbone, protocol.name)
    checkpoint = folder.parent / f".{folder.name}.checkpoint.pt"  # a killed pretraining resumes from here
    outcome = run.fit(device_splits["train"], device_splits["val"], device_splits["val"], progress=progress,
                      checkpoint=checkpoint, time_inference=False, report=report)  # a release keeps no speed figures
    if outcome.status != "ok":
        raise MedbenchError(f"pretraining {backbone} on {recipe} {outcome.status}: {outcome.error}")
    config = release_config(backbone, num_classes, channels, image_size, cpmid.label_names, manifest, protocol, outcome.metrics,
                            {name: split.placement for name, split in device_splits.items()})
    write_release(folder, model, config, model_card(config, manifest))
    checkpoint.unlink(missing_ok=True)
    report(f"wrote CPMID release {folder} (val accuracy {outcome.metrics.get('accuracy', float('nan')):.3f})")
    return folder


def release_config(backbone: str, num_classes: int, channels: int, image_size: int, label_names: list[str],
                   manifest: dict[str, Any], protocol: Protocol, val_metrics: dict[str, Any],
                   data_path: dict[str, str]) -> dict[str, Any]:
    return {
        "architecture": backbone,
        "num_classes": num_classes,
        "label_names": list(label_names),
        "pretrained_cfg": {"input_size": [channels, image_size, image_size], "mean": list(CPMID_MEAN[:channels]),
                           "std": list(CPMID_STD[:channels]), "interpolation": "bilinear", "crop_pct": 1.0,
                           "num_classes": num_classes, "license": "see README.md (derived from the sources' licences)"},
        "medbench": {"recipe": manifest.get("recipe", {}).get("name"), "recipe_sha256": manifest.get("recipe_sha256"),
                     "protocol": protocol.to_dict(), "val_metrics": val_metrics, "data_path": data_path,
                     "created_at": now_utc(), **software()},
    }


def model_card(config: dict[str, Any], manifest: dict[str, Any]) -> str:
    meta = config["medbench"]
    sources = manifest.get("sources") or []
    lines = [
        "---", "library_name: timm", "tags: [medbench, cpmid, medical-imaging, image-classification]", "---", "",
        f"# {config['architecture']} pretrained on CPMID recipe `{meta['recipe']}`", "",
        "Supervised pretraining on a CPMID build made by medbench (a merged set of medical image datasets,",
        "deduplicated and checked against the downstream validation and test sets).", "",
        "## Data", f"- recipe `{meta['recipe']}`, sha256 `{meta['recipe_sha256']}`",
        f"- {config['num_classes']} labels, input {config['pretrained_cfg']['input_size']}",
        *[f"- source `{s.get('name')}`: {s.get('license', 'licence not stated')}" for s in sources if isinstance(s, dict)],
        "", "## Protocol", f"- `{meta['protocol']['name']}`: {meta['protocol']['description']}",
        f"- optimizer {meta['protocol']['optimizer']}, lr {meta['protocol']['lr']}, epochs {meta['protocol']['epochs']}, seed {meta['protocol']['seeds'][0]}",
        "", "## Validation metrics (held-out CPMID split)",
        *[f"- {k}: {v:.4f}" for k, v in meta["val_metrics"].items() if isinstance(v, float)],
        "", "## Use", "```", "medbench run --init file:model.safetensors --backbone " + config["architecture"],
        "timm.create_model('local-dir:THIS_FOLDER')", "```", "",
        "## Licence", "The weights derive from the sources above; their licences and citations apply (see the datasheet).",
        "", *use_statement([s for s in sources if isinstance(s, dict)]),
        "", f"Made with medbench {meta['medbench_version']} (git {meta['git_sha']}).",
    ]
    return "\n".join(lines) + "\n"


def write_release(folder: Path, model: torch.nn.Module, config: dict[str, Any], card: str) -> None:
    """Write into a temp folder, then swap it in: a half-written release is never picked up."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, staging / "model.safetensors", metadata={"format": "pt"})
        (staging / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
        (staging / "README.md").write_text(card)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def push_release(folder: Path, repo_id: str, report: Report = print) -> str:
    """Upload a release folder to the Hugging Face Hub (or the endpoint in HF_ENDPOINT); returns the commit URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="model", exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                                   commit_message="medbench CPMID release")
    except (HfHubHTTPError, OSError) as exc:
        raise MedbenchError(f"could not push {folder} to {repo_id}: {str(exc).splitlines()[0]} (log in with `hf auth login`)") from None
    report(f"pushed {folder} to {repo_id}")
    return str(commit)
