"""`medbench submit run`: validate, then score on a suite with the harness's protocol and seeds.

The submitter chooses nothing that changes a number: the seeds are the protocol's, and the
protocol is the suite's (a leaderboard names one) unless another registered fine-tuning protocol
is asked for by name, which every record then states.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from harness.errors import MedbenchError
from harness.inits.submission import use_manifest
from harness.protocols import PRETRAINING_FOR, PROTOCOLS, Protocol
from harness.runner import run_grid
from harness.submissions.suite import Suite
from harness.submissions.validate import validate

DEFAULT_PROTOCOL = "quick"
Report = Callable[[str], None]


def scoring_protocol(name: str | None, suite: Suite, report: Report = print) -> Protocol:
    chosen = name or suite.protocol or DEFAULT_PROTOCOL
    if chosen in PRETRAINING_FOR.values():
        raise MedbenchError(f"{chosen} is a pretraining protocol; score with a fine-tuning one such as "
                            f"{suite.protocol or DEFAULT_PROTOCOL}")
    protocol = PROTOCOLS.get(chosen)
    if suite.protocol and chosen != suite.protocol:
        report(f"note: the {suite.name} leaderboard uses protocol {suite.protocol}; records under {chosen} will not "
               "appear on it")
    return protocol


def score(path: Path, suite: Suite, protocol_name: str | None, out: Path, data_dir: Path | None,
          device: torch.device, report: Report = print, progress: bool = True) -> list[Path]:
    protocol = scoring_protocol(protocol_name, suite, report)
    manifest = validate(path, suite, data_dir=data_dir, report=report).verified.manifest
    init = use_manifest(manifest.path)
    report(f"scoring {init} ({manifest.backbone}) on {len(suite.tasks)} task(s) of suite {suite.name!r}, "
           f"protocol {protocol.name}, seeds {', '.join(map(str, protocol.seeds))}")
    return run_grid(list(suite.tasks), [init], [manifest.backbone], protocol, protocol.seeds, out, data_dir, device,
                    report=report, progress=progress)
