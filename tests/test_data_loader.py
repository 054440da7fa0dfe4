"""The data layer's one entry point per question (load, status, files), whatever loader a card names."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.data import data_files, data_status, item_splits, load_data, loader_of
from harness.data.arrays import ArrayDataset, TaskData
from harness.data.loader import LOADERS, Loader
from harness.tasks import SourceSpec, get_task


def _tiny(spec: Any, args: dict[str, Any], data_dir: Path | None) -> TaskData:
    split = ArrayDataset(np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1]))
    return TaskData(split, split, split)


@pytest.fixture
def plugin_card(monkeypatch: pytest.MonkeyPatch):
    """A card whose loader is a plugin's bare load function, as the entry-point group allowed before `Loader`."""
    monkeypatch.setitem(LOADERS._entries, "bare-plugin", _tiny)
    return dataclasses.replace(get_task("breastmnist"), source=SourceSpec("bare-plugin", {}))


def test_a_bare_plugin_function_loads_and_cannot_tell_its_status(plugin_card):
    assert loader_of(plugin_card) == Loader(_tiny)
    assert len(load_data(plugin_card).train) == 2
    assert data_status(plugin_card) == ("unknown", "")
    assert data_files(plugin_card) is None and item_splits(plugin_card) is None


def test_an_unknown_loader_has_an_unknown_status():
    card = dataclasses.replace(get_task("breastmnist"), source=SourceSpec("no-such-loader", {}))
    assert data_status(card) == ("unknown", "")


def test_every_built_in_loader_says_where_its_data_are(tmp_path: Path):
    assert data_status(get_task("synth-xray-cls")).state == "generated"
    assert data_status(get_task("breastmnist"), tmp_path).state in ("downloadable", "present")
    assert data_status(get_task("kvasir-seg"), tmp_path).state in ("missing", "present")
    assert data_files(get_task("breastmnist")) is None  # array files: items are indices
