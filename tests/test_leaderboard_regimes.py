"""The leaderboard ranks one evaluation regime and shows the others as a label-efficiency page."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.errors import MedbenchError
from harness.leaderboard import build_board, build_site, load_definition
from harness.leaderboard.definition import parse_definition
from harness.results import record_path, write_json_atomic
from tests.test_leaderboard_records import grid

GAIN = {8: 0.12, 64: 0.06}  # cpmid's extra balanced accuracy over its full-label advantage, per budget


def _write(folder: Path, records: list[dict]) -> Path:
    for r in records:
        write_json_atomic(record_path(folder, r["task"], r["init"], r["backbone"], r["protocol"], r["seed"],
                                      variant=(r.get("regime") or {}).get("tag", "")), r)
    return folder


def _regime_records(mode: str, budget: int | str, tag: str) -> list[dict]:
    records = grid(inits=("scratch", "cpmid"))
    for r in records:
        r.update(mode=mode, label_budget=budget, image_size=64, regime={"tag": tag, "size_override": False})
        if r["init"] == "cpmid":
            r["metrics"]["balanced_accuracy"] += GAIN.get(budget, 0.0)
    return records


@pytest.fixture
def budgets(tmp_path: Path) -> Path:
    records = grid(inits=("scratch", "cpmid"))  # records from before regimes: fine-tuned on every label
    records += _regime_records("finetune", 8, "budget8") + _regime_records("finetune", 64, "budget64")
    records += _regime_records("linear-probe", "full", "linear-probe")
    return _write(tmp_path / "results", records)


def test_the_board_ranks_fine_tuning_on_every_label_and_tabulates_the_other_regimes(budgets: Path):
    board = build_board(budgets)
    assert len(board.runs) == 12 and set(board.runs["label_budget"]) == {"full"} and set(board.runs["mode"]) == {"finetune"}
    assert any("36 record(s) of other evaluation regimes" in note for note in board.notes)
    table = board.regimes.set_index(["task", "mode", "label_budget", "init"])
    task = "synth-xray-cls"
    delta = {b: table.loc[(task, "finetune", b, "cpmid"), "delta"] for b in ("8", "64", "full")}
    assert delta["8"] - delta["full"] == pytest.approx(GAIN[8]) and delta["64"] - delta["full"] == pytest.approx(GAIN[64])
    assert table.loc[(task, "finetune", "8", "scratch"), "delta"] == 0 and table.loc[(task, "finetune", "8", "cpmid"), "n"] == 3
    assert list(board.regimes.loc[board.regimes["task"] == task, "label_budget"].drop_duplicates()) == ["8", "64", "full"]
    assert {"linear-probe"} <= set(board.regimes["mode"])


def test_the_site_gets_a_label_efficiency_page_only_when_records_carry_several_regimes(budgets: Path, tmp_path: Path):
    build_site(build_board(budgets), tmp_path / "site")
    page = (tmp_path / "site" / "regimes.html").read_text()
    assert page.count("<table") == 4  # 2 tasks × (finetune over 3 budgets, linear-probe)
    assert page.count("data:image/svg+xml;base64,") == 2  # a curve where there are several budgets
    assert "8 / class" in page and "every label" in page and "Δ +" in page
    assert 'href="regimes.html"' in (tmp_path / "site" / "index.html").read_text()
    exported = json.loads((tmp_path / "site" / "data" / "leaderboard.json").read_text())
    assert {row["label_budget"] for row in exported["regimes"]} == {"8", "64", "full"}

    plain = _write(tmp_path / "plain", grid(inits=("scratch", "cpmid")))
    build_site(build_board(plain), tmp_path / "plain-site")
    assert not (tmp_path / "plain-site" / "regimes.html").exists()
    assert "regimes.html" not in (tmp_path / "plain-site" / "index.html").read_text()


def test_a_definition_can_rank_another_regime(budgets: Path):
    definition = dataclasses.replace(load_definition("embedded"), mode="linear-probe")
    board = build_board(budgets, definition)
    assert set(board.runs["mode"]) == {"linear-probe"} and len(board.runs) == 12
    raw = {"title": "t", "tasks": ["synth-xray-cls"], "metrics": [{"name": "auroc"}], "protocol": "quick",
           "mode": "knn", "label_budget": 8, "image_size": 224}
    parsed = parse_definition(raw, "t", "t.yaml")
    assert (parsed.mode, parsed.label_budget, parsed.image_size) == ("knn", "8", 224)
    with pytest.raises(MedbenchError, match="image_size must be a positive integer"):
        parse_definition({**raw, "image_size": "big"}, "t", "t.yaml")


def test_only_other_regimes_are_ranked_when_there_is_no_fine_tuning_on_every_label(tmp_path: Path):
    folder = _write(tmp_path / "results", _regime_records("knn", 8, "knn-k11__budget8"))
    board = build_board(folder)
    assert (board.definition.mode, board.definition.label_budget) == ("knn", "8") and len(board.runs) == 12
    assert board.regimes.empty


def test_the_label_efficiency_page_renders_sorts_and_stays_offline_in_chromium(budgets: Path, tmp_path: Path):
    chromium = pytest.importorskip("tests.test_leaderboard_browser")  # skips without websocket-client
    if chromium.CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    build_site(build_board(budgets), tmp_path / "site")
    browser = chromium.Browser(tmp_path / "profile")
    try:
        browser.open(tmp_path / "site" / "regimes.html")
        assert all(url.startswith(chromium.NO_NETWORK) for url in browser.requested_urls())
        assert browser.console_errors() == []  # nothing the CSP blocks
        assert browser.js("Array.from(document.images).every(i => i.complete && i.naturalWidth > 300)")
        first = "document.querySelector('table.regimes')"
        browser.click("table.regimes thead th:nth-child(4) button")  # 8 labels/class: best first
        values = browser.js(f"Array.from({first}.querySelectorAll('tbody tr')).map(r => parseFloat(r.cells[3].getAttribute('data-v')))")
        assert values == sorted(values, reverse=True) and len(values) == 2
        browser.screenshot(tmp_path / "screenshots" / "regimes.png")
    finally:
        browser.close()
