"""A disk that fills up during a run: named in one line, the grid stopped, no record claiming the run failed
for another reason, nothing half-written. One smoke run of timm's tiny `test_resnet` per case."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from harness.skips import SKIP_ENV
from tests.conftest import assert_one_line_error, invoke
from tests.hostile.conftest import case

TORCH_DISK_FULL = ("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0 "
                   "PytorchStreamWriter failed writing file data/0: file write failed")


def _full_disk_in_cams(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device", "cams/test-00000.png")


def _full_disk_in_checkpoint(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError(TORCH_DISK_FULL)


@pytest.mark.slow
@pytest.mark.parametrize("target, replacement, message", [
    case("disk-full-writing-cams", "harness.regimes.finetune.save_overlay", _full_disk_in_cams, "the disk is full",
         risk="traceback"),
    case("disk-full-writing-checkpoint", "harness.engine.torch.save", _full_disk_in_checkpoint,
         "the write failed (is the disk full?)", risk="silent"),
])
def test_a_disk_filling_up_during_a_run_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str,
                                                 replacement: Any, message: str):
    monkeypatch.setattr(target, replacement)
    monkeypatch.setenv(SKIP_ENV, "inference-timing,data-audit")  # Grad-CAMs drawn: the suite turns them off elsewhere
    out = tmp_path / "out"
    result = invoke("run", "--tasks", "synth-xray-cls", "--backbone", "test_resnet", "--protocol", "smoke",
                    "--out", str(out), "--quiet", check=False)
    assert_one_line_error(result, message)
    assert not list(out.rglob("*.json"))  # no `failed` record blaming the model
    assert not list(out.rglob("*.tmp"))  # no half-written file
