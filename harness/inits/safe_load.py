"""The only place a weights file is read: tensors come out, code never runs.

Weights come from strangers (submissions, Hub repos, shared drives). A pickle can run any command
when loaded, so the format is told from the bytes (never the file name), safetensors headers are
checked before the library sees them, and pickle-based files go through torch's tensors-only
unpickler with no way to fall back. The file is read once: the bytes that are hashed are the
bytes that are parsed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import re
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from torch.torch_version import TorchVersion

from harness.errors import MedbenchError
from harness.zipcap import check_zip

MAX_HEADER_BYTES = 100 * 1024**2
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTO = b"\x80"
CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "module")
DDP_PREFIX = "module."
# torch before 2.10 has published ways around weights_only=True.
MIN_TORCH_FOR_PICKLE = "2.10"
# torch.load obeys this variable when weights_only is not passed; we always pass it, and also hide
# the variable so that no version of torch can use it to turn the unpickler off.
UNSAFE_ENV = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
CONVERT_HINT = "convert it to safetensors (safetensors.torch.save_file) and pass that file"

# Bytes per element of each safetensors dtype that torch can hold.
SAFETENSORS_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E4M3FNUZ": 1, "F8_E5M2": 1, "F8_E5M2FNUZ": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip


def load_weights_file(
    path: Path, max_bytes: int = 2 * 1024**3, max_tensors: int = 10_000
) -> tuple[dict[str, torch.Tensor], str]:
    """Read a weights file safely; return its state_dict (timm key space untouched) and sha256."""
    path = Path(path)
    data = _read_capped(path, max_bytes)
    sha256 = hashlib.sha256(data).hexdigest()
    kind = _detect_format(data)
    if data[:4] == ZIP_MAGIC:
        check_zip(data, f"weights file {path}", max_bytes)
    if kind == "safetensors":
        _check_safetensors_header(path, data, max_tensors)
        loaded = _load_safetensors(path, data)
    elif kind == "pickle":
        loaded = _load_pickled(path, data)
    else:
        raise MedbenchError(
            f"{path} is not a safetensors, PyTorch or pickle weights file "
            f"(it starts with {data[:8]!r}); pass a .safetensors file or a torch.save checkpoint"
        )
    return _clean_state_dict(path, loaded, max_tensors), sha256


def _read_capped(path: Path, max_bytes: int) -> bytes:
    if not path.exists():
        raise MedbenchError(f"weights file {path} does not exist; check the path")
    if path.is_dir():
        raise MedbenchError(f"{path} is a directory; pass the weights file inside it")
    if not path.is_file():
        raise MedbenchError(f"{path} is not a regular file; pass a weights file")
    size = path.stat().st_size
    if size > max_bytes:
        raise MedbenchError(
            f"weights file {path} is {size:,} bytes, over the {max_bytes:,}-byte limit; "
            "check it is the right file or raise the limit"
        )
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise MedbenchError(f"cannot read weights file {path}: {e.strerror or e}; check its permissions") from None
    if len(data) > max_bytes:
        raise MedbenchError(f"weights file {path} grew past the {max_bytes:,}-byte limit while being read")
    if not data:
        raise MedbenchError(f"weights file {path} is empty; re-download or re-export it")
    return data


def _detect_format(data: bytes) -> str | None:
    """Tell the format from the bytes: a file's name says nothing about what is inside it.

    The zip magic is checked first and the pickle opcode last, because a safetensors header
    length can begin with the byte 0x80 too.
    """
    if data[:4] == ZIP_MAGIC:
        return "pickle"  # torch.save's zip container holds a pickle
    if len(data) > 8 and data[8:9] == b"{":  # 8-byte little-endian header length, then JSON
        return "safetensors"
    if data[:1] == PICKLE_PROTO:
        return "pickle"  # torch.save's legacy format
    return None


def _check_safetensors_header(path: Path, data: bytes, max_tensors: int) -> None:
    """Validate the header ourselves so a hostile one gets a precise error, not a library crash."""

    def bad(problem: str) -> MedbenchError:
        return MedbenchError(f"{path} is not a valid safetensors file: {problem}; re-export or re-download it")

    header_len = int.from_bytes(data[:8], "little")
    if header_len > MAX_HEADER_BYTES:
        raise bad(f"header length {header_len:,} bytes is over the {MAX_HEADER_BYTES:,}-byte limit")
    if 8 + header_len > len(data):
        raise bad(f"header length {header_len:,} runs past the end of the {len(data):,}-byte file (truncated?)")
    try:
        text = data[8 : 8 + header_len].decode("utf-8")  # json.loads would also guess UTF-16/32
        header = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad(f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad("__metadata__ is not a map of strings")
    if len(header) > max_tensors:
        raise MedbenchError(f"{path} holds {len(header):,} tensors, over the limit of {max_tensors:,}")

    data_len = len(data) - 8 - header_len
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise bad(f"entry {name!r} must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in SAFETENSORS_ITEMSIZE:
            raise bad(f"tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise bad(f"tensor {name!r} has an invalid shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
            raise bad(f"tensor {name!r} has invalid data_offsets {offsets!r}")
        begin, end = offsets
        if not begin <= end <= data_len:
            raise bad(f"tensor {name!r} data_offsets {offsets} run outside the {data_len:,}-byte data section")
        if end - begin != math.prod(shape) * SAFETENSORS_ITEMSIZE[dtype]:
            raise bad(f"tensor {name!r} spans {end - begin} bytes but shape {shape} of {dtype} needs "
                      f"{math.prod(shape) * SAFETENSORS_ITEMSIZE[dtype]}")  # fmt: skip
        spans.append((begin, end, name))

    position = 0
    for begin, end, name in sorted(spans):
        if begin < position:
            raise bad(f"tensor {name!r} overlaps the tensor before it (data_offsets {[begin, end]})")
        if begin > position:
            raise bad(f"bytes {position}..{begin} of the data section belong to no tensor")
        position = end
    if position != data_len:
        raise bad(f"bytes {position}..{data_len} of the data section belong to no tensor")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"duplicate key {duplicates[0]!r}")
    return dict(pairs)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _load_safetensors(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    try:
        return load(data)
    except Exception as e:  # the library's own error type differs between versions
        raise MedbenchError(f"{path} could not be read as safetensors ({_first_line(e)}); re-export it") from None


def _load_pickled(path: Path, data: bytes) -> Any:
    """torch.save / pickle formats, through the tensors-only unpickler and nothing else."""
    if TorchVersion(torch.__version__) < MIN_TORCH_FOR_PICKLE:
        raise MedbenchError(
            f"{path} is a pickle-based checkpoint and torch {torch.__version__} cannot load those safely; "
            f"upgrade torch to >= {MIN_TORCH_FOR_PICKLE} or {CONVERT_HINT}"
        )
    if _is_torchscript(data):
        raise MedbenchError(f"{path} is a TorchScript archive, which holds code, not plain weights; "
                            f"save model.state_dict() instead, or {CONVERT_HINT}")  # fmt: skip
    try:
        with _without_env(UNSAFE_ENV):
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True, mmap=False)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([A-Za-z_][\w.]*\.\w+)", str(e))
        culprit = f" ({found.group(1)})" if found else ""
        raise MedbenchError(
            f"{path} contains code or objects that are not plain tensors{culprit} and will not be loaded; "
            f"if you trust its author, {CONVERT_HINT}"
        ) from None
    except Exception as e:  # truncated zip, bad storage record: all mean "not usable"
        raise MedbenchError(
            f"{path} is a corrupt or unsupported PyTorch checkpoint ({_first_line(e)}); "
            f"re-download it or {CONVERT_HINT}"
        ) from None


def _is_torchscript(data: bytes) -> bool:
    """torch's own test: a zip whose records include constants.pkl (torch.load would hand it to torch.jit)."""
    if data[:4] != ZIP_MAGIC:
        return False
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, ValueError):
        return False  # torch.load reports the damage
    return any(name.split("/", 1)[-1] == "constants.pkl" for name in names)


@contextmanager
def _without_env(name: str) -> Iterator[None]:
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def _clean_state_dict(path: Path, loaded: Any, max_tensors: int) -> dict[str, torch.Tensor]:
    """Unwrap training checkpoints, drop DDP's `module.` prefix, insist on finite dense tensors."""
    state = _unwrap(loaded)
    if not isinstance(state, dict):
        raise MedbenchError(f"{path} holds a {type(state).__name__}, not a state_dict of named tensors; "
                            "save model.state_dict() instead")  # fmt: skip
    if len(state) > max_tensors:
        raise MedbenchError(f"{path} holds {len(state):,} entries, over the limit of {max_tensors:,}")
    if not state:
        raise MedbenchError(f"{path} holds no tensors; save model.state_dict() instead")
    clean: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise MedbenchError(f"{path} has a non-text key {key!r}; save model.state_dict() instead")
        if not isinstance(value, torch.Tensor) or value.layout != torch.strided:
            raise MedbenchError(f"{path}: entry {key!r} is a {type(value).__name__}, not a dense tensor; "
                                "save model.state_dict() instead")  # fmt: skip
        name = key.removeprefix(DDP_PREFIX)
        if name in clean:
            raise MedbenchError(f"{path} has both {name!r} and {DDP_PREFIX + name!r}; keep one of them")
        if not _is_finite(value):
            raise MedbenchError(f"{path}: tensor {key!r} contains NaN or Inf; the weights are broken, re-export them")
        clean[name] = value.detach()
    return clean


def _unwrap(loaded: Any) -> Any:
    """Follow {"state_dict": ...}-style containers down to the tensors (cycles end the walk)."""
    seen: set[int] = set()
    while isinstance(loaded, dict) and id(loaded) not in seen:
        seen.add(id(loaded))
        if loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
            break
        inner = next((loaded[k] for k in CONTAINER_KEYS if isinstance(loaded.get(k), dict)), None)
        if inner is None:
            break
        loaded = inner
    return loaded


def _is_finite(tensor: torch.Tensor) -> bool:
    if not (tensor.is_floating_point() or tensor.is_complex()):
        return True
    if tensor.element_size() == 1:  # float8 kinds lack isfinite
        tensor = tensor.float()
    # NaN and Inf survive a sum, so a finite sum settles it in one cheap pass; only an overflowing
    # sum needs the element-wise check.
    return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
