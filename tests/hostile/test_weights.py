"""Hostile weights files through `medbench inits check file:PATH` (the loader `submit validate` uses too):
zip bombs, weights of a bigger model of the same family, integer tensors; and a read-only `--out`.

Pickle and safetensors attacks are covered by tests/test_safe_load.py; these are the cases issue 17 found
handled wrongly. Models are timm's tiny `test_resnet` / `test_vit`."""

from __future__ import annotations

import errno
import io
import zipfile
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from tests.conftest import assert_one_line_error, invoke
from tests.hostile.conftest import case


def _state(name: str = "test_resnet") -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in timm.create_model(name).state_dict().items()}


def _deeper(state: dict[str, torch.Tensor], extra: int) -> dict[str, torch.Tensor]:
    """`extra` tensors of a deeper stage the tiny model has not got (as ResNet-34 has blocks ResNet-18 lacks)."""
    return {**state, **{f"layer4.{9 + i}.conv1.weight": torch.randn(8, 8, 3, 3) for i in range(extra)}}


def _check(path: Path, backbone: str = "test_resnet"):
    return invoke("inits", "check", f"file:{path}", "--backbone", backbone, check=False)


def test_weights_of_the_model_itself_load_fully(tmp_path: Path):
    save_file(_state(), tmp_path / "w.safetensors")
    result = _check(tmp_path / "w.safetensors")
    assert result.exit_code == 0, result.stderr
    assert "0 unexpected tensor(s) ignored" in result.stdout


@pytest.mark.parametrize("extra, refused", [
    case("bigger-model-same-family", 40, True, risk="silent"),
    case("a-few-unexpected-tensors-stated", 3, False, risk="silent", issue=False),
])
def test_unexpected_tensors_are_reported_and_too_many_refused(tmp_path: Path, extra: int, refused: bool):
    save_file(_deeper(_state(), extra), tmp_path / "w.safetensors")
    result = _check(tmp_path / "w.safetensors")
    if refused:
        assert_one_line_error(result, f"{extra} of the", "have no place in test_resnet")
    else:
        assert result.exit_code == 0 and f"{extra} unexpected tensor(s) ignored" in result.stdout


@pytest.mark.parametrize("dtype, refused", [
    case("int32-weights", torch.int32, True, risk="silent"),
    case("int64-weights", torch.int64, True, risk="silent", issue=False),
    case("uint8-weights", torch.uint8, True, risk="silent", issue=False),
    case("float16-weights-accepted", torch.float16, False, risk="silent", issue=False),
])
def test_integer_weights_are_not_cast(tmp_path: Path, dtype: torch.dtype, refused: bool):
    state = _state()
    state["conv1.0.weight"] = (state["conv1.0.weight"] * 100).to(dtype)
    save_file(state, tmp_path / "w.safetensors")
    result = _check(tmp_path / "w.safetensors")
    if refused:
        assert_one_line_error(result, "'conv1.0.weight'", str(dtype), "not cast")
    else:
        assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("name", [case("another-architecture", "test_vit", risk="silent", issue=False)])
def test_weights_of_another_architecture_are_refused(tmp_path: Path, name: str):
    save_file(_state(name), tmp_path / "w.safetensors")
    assert_one_line_error(_check(tmp_path / "w.safetensors"), "match only")


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("blob, message", [
    case("pth-zip-bomb", _zip({"archive/data.pkl": b"\x80\x02}q\x00.", "archive/data/0": b"\0" * (16 * 2**20)}),
         "would decompress to", risk="dangerous"),
    case("pth-many-small-members-bomb", _zip({f"archive/data/{i}": b"\0" * 2**20 for i in range(12)}),
         "would decompress to", risk="dangerous", issue=False),
    case("pth-truncated-zip", _zip({"archive/data.pkl": b"\x80\x02}q\x00."})[:-30], "corrupt or unsupported",
         risk="traceback", issue=False),
])
def test_zip_based_weights_are_capped_before_they_are_inflated(tmp_path: Path, blob: bytes, message: str):
    (tmp_path / "w.pth").write_bytes(blob)
    assert_one_line_error(_check(tmp_path / "w.pth"), "w.pth", message)


@pytest.mark.parametrize("code, message", [
    case("run-out-on-read-only-disk", errno.EROFS, "the file system is read-only", risk="traceback"),
    case("run-out-on-full-disk", errno.ENOSPC, "the disk is full", risk="traceback", issue=False),
])
def test_a_run_whose_out_cannot_be_written_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int,
                                                   message: str):
    """The first thing a run writes is a claim in OUT/.claims (harness.claims); a disk refusing it is named."""
    def refuse(*args: object, **kwargs: object) -> int:
        raise OSError(code, "simulated", str(tmp_path / "out" / ".claims"))

    monkeypatch.setattr("harness.claims.os.open", refuse)
    result = invoke("run", "--tasks", "synth-xray-cls", "--backbone", "test_resnet", "--protocol", "smoke",
                    "--out", str(tmp_path / "out"), "--quiet", check=False)
    assert_one_line_error(result, message, ".claims")
    assert not list((tmp_path / "out").rglob("*.json"))
