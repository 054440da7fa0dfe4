"""Published pages and downloads never show absolute local paths (records keep them as provenance)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.leaderboard import build_board, build_site
from harness.leaderboard.export import to_markdown
from harness.leaderboard.public import page_output, without_local_paths
from tests.test_leaderboard_records import TASKS, make_record, write_results


@pytest.mark.parametrize("text, shown", [
    ("/tmp/pytest-7/ana/releases/cpmid/model.safetensors", "…/model.safetensors"),
    ("file:/home/ana/w.safetensors", "file:…/w.safetensors"),
    ("submission:/tmp/x/manifest.yaml (seed 0)", "submission:…/manifest.yaml (seed 0)"),
    ("~/weights/best.pt", "…/best.pt"),
    (r"C:\Users\ana\w.pt", "…/w.pt"),
    ("https://huggingface.co/timm/resnet18.a1_in1k/blob/main/x", "https://huggingface.co/timm/resnet18.a1_in1k/blob/main/x"),
    ("../cams/a.png and cams/b.png and n/a and 3/4", "../cams/a.png and cams/b.png and n/a and 3/4"),
    ("/", "/"),
])
def test_local_paths_are_shortened_and_urls_and_relative_paths_kept(text: str, shown: str):
    assert without_local_paths(text) == shown


def test_page_output_rounds_bare_floats_and_keeps_other_values():
    assert page_output(0.30000000000000004) == "0.3" and page_output(1e-4) == "0.0001"
    assert page_output(3) == 3 and page_output(None) is None and page_output(True) is True


def test_no_local_path_reaches_the_site_or_its_downloads(tmp_path: Path):
    secret = "/tmp/medbench-secret-user/runs"
    init = f"file:{secret}/w.safetensors"
    records = [make_record(TASKS[0], name, "resnet18", seed) for name in ("scratch", init) for seed in (0, 1, 2)]
    for record in records[3:]:
        record["provenance"]["init_provenance"] = {"source": "file", "path": f"{secret}/w.safetensors",
                                                   "manifest": {"name": "mine", "weights": f"{secret}/w.safetensors",
                                                                "lr": 0.30000000000000004}}
    board = build_board(write_results(tmp_path / "results", records))
    build_site(board, tmp_path / "site")
    files = [p for p in (tmp_path / "site").rglob("*") if p.suffix in (".html", ".csv", ".json")]
    assert len(files) >= 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "medbench-secret-user" not in text, path
    entry = next(p for p in files if p.parent.name == "entry" and "w.safetensors" in p.read_text())
    page = entry.read_text()
    assert "file:…/w.safetensors" in page and "0.30000000000000004" not in page and "0.3" in page
    assert "medbench-secret-user" not in to_markdown(board)
