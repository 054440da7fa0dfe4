"""The safe loader: tensors out, never code; every broken or hostile file is one clear error."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from harness.errors import MedbenchError
from harness.inits.safe_load import load_weights_file


def tiny_state_dict() -> dict[str, torch.Tensor]:
    return {"conv.weight": torch.randn(2, 3, 3, 3), "bn.num_batches_tracked": torch.tensor(7), "fc.bias": torch.ones(4)}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def raw_safetensors(header: dict, data: bytes) -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def torch_saved(obj: object, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


class RunsCommand:
    """Pickles to a call of os.system: what a hostile checkpoint does."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


# --- round trips ---------------------------------------------------------------------------


def test_safetensors_round_trip_and_sha256(tmp_path):
    sd = tiny_state_dict()
    path = tmp_path / "w.safetensors"
    save_file(sd, path)
    loaded, sha = load_weights_file(path)
    assert_same(loaded, sd)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_torch_save_round_trip(tmp_path, legacy):
    sd = tiny_state_dict()
    path = write(tmp_path / "w.pth", torch_saved(sd, legacy))
    loaded, sha = load_weights_file(path)
    assert_same(loaded, sd)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()


def test_format_comes_from_content_not_name(tmp_path):
    sd = tiny_state_dict()
    safetensors_named_bin = tmp_path / "w.bin"
    save_file(sd, safetensors_named_bin)
    pickle_named_safetensors = write(tmp_path / "w.safetensors", torch_saved(sd))
    assert_same(load_weights_file(safetensors_named_bin)[0], sd)
    assert_same(load_weights_file(pickle_named_safetensors)[0], sd)


def test_parameters_come_back_as_plain_tensors(tmp_path):
    path = write(tmp_path / "w.pth", torch_saved({"w": torch.nn.Parameter(torch.ones(2))}))
    loaded, _ = load_weights_file(path)
    assert type(loaded["w"]) is torch.Tensor and not loaded["w"].requires_grad


# --- hostile pickles -----------------------------------------------------------------------


def test_the_hostile_payload_is_live(tmp_path):
    """Control: torch.load without weights_only really runs the command, so the tests below mean something."""
    marker = tmp_path / "ran"
    path = write(tmp_path / "control.pth", torch_saved({"x": RunsCommand(f"touch {marker}")}))
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".bin"])
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
@pytest.mark.parametrize("force_unsafe_env", [False, True], ids=["plain-env", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"])
def test_pickle_that_runs_a_command_is_refused(tmp_path, monkeypatch, suffix, legacy, force_unsafe_env):
    if force_unsafe_env:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    payload = {"conv.weight": torch.ones(1), "evil": RunsCommand(f"touch {marker}")}
    path = write(tmp_path / f"evil{suffix}", torch_saved(payload, legacy))
    with pytest.raises(MedbenchError, match="not plain tensors") as info:
        load_weights_file(path)
    assert not marker.exists()
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert "system" in str(info.value)  # names what it refused to call
    if force_unsafe_env:
        assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1"  # restored for everyone else


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated, but its archives still exist
def test_torchscript_archive_is_refused(tmp_path):
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), buffer)
    path = write(tmp_path / "scripted.pt", buffer.getvalue())
    with pytest.raises(MedbenchError, match="is a TorchScript archive, which holds code"):
        load_weights_file(path)


def test_unsafe_env_var_is_hidden_from_torch_load(tmp_path, monkeypatch):
    """Defence in depth: torch 2.14 ignores the variable when weights_only is passed; older ones might not."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    seen = []
    real_load = torch.load

    def spying_load(*args, **kwargs):
        seen.append((os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"), kwargs.get("weights_only")))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spying_load)
    load_weights_file(write(tmp_path / "w.pth", torch_saved(tiny_state_dict())))
    assert seen == [(None, True)]
    assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1"


def test_torch_older_than_2_10_refuses_pickles(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.5.1")
    path = write(tmp_path / "w.pth", torch_saved(tiny_state_dict()))
    with pytest.raises(MedbenchError, match="cannot load those safely"):
        load_weights_file(path)


# --- broken safetensors headers ------------------------------------------------------------

F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    "content, problem",
    [
        (struct.pack("<Q", 10**12) + b'{"a": {}}', "over the"),
        (struct.pack("<Q", 5000) + b'{"a": {}}', "runs past the end"),
        (raw_safetensors({"a": F32x2, "b": {**F32x2, "data_offsets": [4, 12]}}, bytes(12)), "overlaps"),
        (raw_safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8)), "run outside"),
        (raw_safetensors({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)), "needs 12"),
        (raw_safetensors({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)), "unknown dtype"),
        (raw_safetensors({"a": F32x2}, bytes(12)), "belong to no tensor"),
        (raw_safetensors({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8)), "invalid shape"),
        (raw_safetensors({"a": {"dtype": "F32", "shape": [2]}}, bytes(8)), "exactly dtype"),
        (struct.pack("<Q", 6) + b"{nope}" + bytes(8), "not valid JSON"),
        (struct.pack("<Q", 4) + b"{\x00}\x00", "not valid JSON"),  # UTF-16, which json.loads(bytes) would accept
        (struct.pack("<Q", 33) + b'{"a": 1, "a": 2, "c": 3, "d": 4}' + bytes(8), "duplicate key"),
    ],
    ids=["huge-header-length", "header-past-end", "overlapping-offsets", "offsets-past-end", "size-mismatch",
         "unknown-dtype", "trailing-bytes", "negative-shape", "missing-field", "bad-json", "utf-16", "duplicate-key"],
)  # fmt: skip
def test_broken_safetensors_header_is_named(tmp_path, content, problem):
    path = write(tmp_path / "w.safetensors", content)
    with pytest.raises(MedbenchError, match=problem) as info:
        load_weights_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_safetensors(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(tiny_state_dict(), path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(MedbenchError, match="run outside"):
        load_weights_file(path)


def test_truncated_torch_save(tmp_path):
    content = torch_saved(tiny_state_dict())
    path = write(tmp_path / "w.pth", content[: len(content) // 2])
    with pytest.raises(MedbenchError, match="corrupt") as info:
        load_weights_file(path)
    assert "\n" not in str(info.value)


# --- values and caps -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_non_finite_values_are_refused(tmp_path, bad, dtype):
    sd = tiny_state_dict()
    sd["fc.weight"] = torch.tensor([1.0, bad]).to(dtype)
    path = tmp_path / "w.safetensors"
    save_file(sd, path)
    with pytest.raises(MedbenchError, match="'fc.weight' contains NaN or Inf"):
        load_weights_file(path)


@pytest.mark.parametrize("kind", ["safetensors", "pth"])
def test_too_many_tensors(tmp_path, kind):
    sd = {f"t{i}": torch.zeros(1) for i in range(5)}
    path = tmp_path / f"w.{kind}"
    save_file(sd, path) if kind == "safetensors" else path.write_bytes(torch_saved(sd))
    assert len(load_weights_file(path, max_tensors=5)[0]) == 5
    with pytest.raises(MedbenchError, match="over the limit of 3"):
        load_weights_file(path, max_tensors=3)


def test_file_over_the_size_cap(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(tiny_state_dict(), path)
    with pytest.raises(MedbenchError, match="over the 100-byte limit"):
        load_weights_file(path, max_bytes=100)


def test_missing_empty_directory_and_unknown_format(tmp_path):
    cases = {
        tmp_path / "absent.safetensors": "does not exist",
        write(tmp_path / "empty.safetensors", b""): "is empty",
        tmp_path: "is a directory",
        write(tmp_path / "notes.pth", b"just some text, not weights"): "not a safetensors, PyTorch or pickle",
    }
    for path, problem in cases.items():
        with pytest.raises(MedbenchError, match=problem) as info:
            load_weights_file(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


# --- checkpoint containers -----------------------------------------------------------------


@pytest.mark.parametrize("container", ["state_dict", "model", "model_state_dict", "module"])
def test_containers_are_unwrapped_and_ddp_prefix_stripped(tmp_path, container):
    sd = tiny_state_dict()
    checkpoint = {container: {f"module.{k}": v for k, v in sd.items()}, "epoch": 3, "optimizer": {"lr": 0.1}}
    path = write(tmp_path / "ckpt.pth", torch_saved(checkpoint))
    assert_same(load_weights_file(path)[0], sd)


def test_nested_containers(tmp_path):
    sd = tiny_state_dict()
    path = write(tmp_path / "ckpt.pth", torch_saved({"model": {"state_dict": sd}}))
    assert_same(load_weights_file(path)[0], sd)


def test_ddp_prefix_stripped_from_safetensors(tmp_path):
    sd = tiny_state_dict()
    path = tmp_path / "w.safetensors"
    save_file({f"module.{k}": v for k, v in sd.items()}, path)
    assert_same(load_weights_file(path)[0], sd)


def test_prefix_collision_is_an_error(tmp_path):
    path = write(tmp_path / "w.pth", torch_saved({"a": torch.ones(1), "module.a": torch.zeros(1)}))
    with pytest.raises(MedbenchError, match="keep one of them"):
        load_weights_file(path)


def test_non_tensor_entries_are_refused(tmp_path):
    path = write(tmp_path / "w.pth", torch_saved({"conv.weight": torch.ones(1), "epoch": 3}))
    with pytest.raises(MedbenchError, match="'epoch' is a int, not a dense tensor"):
        load_weights_file(path)


def test_not_a_mapping_is_refused(tmp_path):
    path = write(tmp_path / "w.pth", torch_saved([torch.ones(1)]))
    with pytest.raises(MedbenchError, match="holds a list, not a state_dict"):
        load_weights_file(path)


def test_self_referencing_container_terminates(tmp_path):
    checkpoint: dict = {"epoch": 1}
    checkpoint["model"] = checkpoint
    path = write(tmp_path / "w.pth", torch_saved(checkpoint))
    with pytest.raises(MedbenchError, match="not a dense tensor"):
        load_weights_file(path)
