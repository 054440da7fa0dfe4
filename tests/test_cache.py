"""The one cache helper: any unreadable entry is a miss, any refused write only costs recomputing."""

from pathlib import Path

import numpy as np

from harness.cache import read_arrays, read_json, write_arrays, write_json


def test_entries_round_trip_and_broken_ones_are_misses(tmp_path: Path):
    assert write_arrays(tmp_path / "a.npz", images=np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert read_arrays(tmp_path / "a.npz", ("images",))["images"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert read_arrays(tmp_path / "a.npz", ("images", "labels")) is None  # an entry of an older layout
    assert read_arrays(tmp_path / "absent.npz", ("images",)) is None
    (tmp_path / "b.npz").write_bytes(b"PK\x03\x04 truncated")
    assert read_arrays(tmp_path / "b.npz", ("images",)) is None
    assert write_json(tmp_path / "c.json", {"version": 1}) and read_json(tmp_path / "c.json") == {"version": 1}
    (tmp_path / "d.json").write_bytes(b"\xff{not json")
    assert read_json(tmp_path / "d.json") is None


def test_a_refused_write_is_false_not_an_error(tmp_path: Path):
    (tmp_path / "file").write_text("not a folder")
    assert write_arrays(tmp_path / "file" / "x.npz", a=np.zeros(1)) is False
    assert write_json(tmp_path / "file" / "x.json", {}) is False
