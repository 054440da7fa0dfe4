"""Register a local copy of a task's data that sits elsewhere or under another name (e.g. the team's
`kvasir_seg_200/` for the card's `Kvasir-SEG/`): a symlink where the loaders look, in the data folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.data import data_status
from harness.data.download import default_data_dir
from harness.errors import MedbenchError

if TYPE_CHECKING:
    from harness.tasks import TaskSpec


def link_local_copy(spec: "TaskSpec", source: Path) -> Path:
    """Link `source` into $MEDBENCH_HOME/data under the name the card expects; returns the link.

    Nothing is copied or changed in `source`; an existing file or folder at the link's place is never
    replaced.
    """
    state, where = data_status(spec)
    if state in ("generated", "unknown"):
        raise MedbenchError(f"task {spec.name} has no data folder or file to link (its data are {state})")
    if state == "present":
        raise MedbenchError(f"task {spec.name} already finds its data at {where}; remove that first to link another copy")
    link, home = Path(where), default_data_dir().resolve()
    if not link.resolve().is_relative_to(home):
        raise MedbenchError(f"task {spec.name} expects its data at {where}, outside the data folder {home}: "
                            f"pass --data-dir to the folder holding it instead")
    source = source.expanduser().resolve()
    wanted = "folder" if spec.source.loader != "medmnist" else "file"
    if not (source.is_dir() if wanted == "folder" else source.is_file()):
        raise MedbenchError(f"{source} is not a {wanted}: task {spec.name} needs a {wanted} like {link.name}")
    if link.is_symlink():
        raise MedbenchError(f"{link} is a link to {os.readlink(link)} that does not resolve; remove it and link again")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(source, target_is_directory=wanted == "folder")
    return link
