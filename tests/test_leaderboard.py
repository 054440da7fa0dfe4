"""Leaderboard definitions, aggregation, statistics, rendering and exports, on records generated in
the real schema (tests/test_leaderboard_records.py); end-to-end checks call the installed `medbench`."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import balanced_accuracy_score

from harness.errors import MedbenchError
from harness.leaderboard import build_board, build_site, load_definition
from harness.leaderboard.definition import parse_definition
from harness.leaderboard.render import safe_url
from harness.leaderboard.stats import paired_bootstrap, pareto_front
from harness.metric_catalogue import QUALITY
from harness.protocols import PROTOCOLS
from tests.conftest import assert_one_line_error, invoke
from tests.test_leaderboard_records import TASKS, grid, make_record, write_results

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _cell(board, init, task, metric="balanced_accuracy", backbone="resnet18") -> pd.Series:
    rows = board.cells[(board.cells["init"] == init) & (board.cells["task"] == task) & (board.cells["metric"] == metric)
                       & (board.cells["backbone"] == backbone)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def _state(board, init, task, backbone="resnet18") -> str:
    states = board.states.set_index(["init", "backbone", "task"])["state"]
    return states[(init, backbone, task)]


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Three clean inits, one with a missing seed, a diverged run, and two contaminated submissions (both flag forms)."""
    records = [r for r in grid() if not (r["init"] == "cpmid" and r["task"] == TASKS[0] and r["seed"] == 2)]
    records += [make_record(TASKS[0], "scratch", "resnet50", s) for s in (0, 1)]
    records.append(make_record(TASKS[0], "scratch", "resnet50", 2, status="diverged"))
    records += [make_record(t, "sub-leaky", "resnet18", s, skill=0.3, contaminated=True, contamination={"datasets": ["ISIC 2018"]})
                for t in TASKS[:2] for s in (0, 1, 2)]
    records += [make_record(t, "sub-flagged", "resnet18", s, skill=0.3, flags=["contaminated"], schema_version=1)
                for t in TASKS[:2] for s in (0, 1, 2)]  # a version-1 record's hand-made flag
    return write_results(tmp_path / "results", records)


def test_mean_sd_and_t_interval_over_seeds_match_scipy(mixed: Path):
    board = build_board(mixed)
    values = [make_record(TASKS[1], "imagenet", "resnet18", s)["metrics"]["balanced_accuracy"] for s in (0, 1, 2)]
    cell = _cell(board, "imagenet", TASKS[1])
    low, high = scipy_stats.t.interval(0.95, 2, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert cell["n"] == 3 and cell["mean"] == pytest.approx(np.mean(values)) and cell["sd"] == pytest.approx(np.std(values, ddof=1))
    assert (cell["ci_low"], cell["ci_high"]) == (pytest.approx(low), pytest.approx(high))


def test_missing_seed_diverged_and_contaminated_are_states_never_ranked_numbers(mixed: Path):
    board = build_board(mixed)
    assert _state(board, "cpmid", TASKS[0]) == "incomplete" and _state(board, "cpmid", TASKS[1]) == "ok"
    assert _state(board, "scratch", TASKS[0], backbone="resnet50") == "diverged"
    assert _state(board, "sub-leaky", TASKS[0]) == _state(board, "sub-flagged", TASKS[1]) == "contaminated"
    shown = set(zip(board.cells["init"], board.cells["backbone"]))
    assert not {("sub-leaky", "resnet18"), ("sub-flagged", "resnet18"), ("scratch", "resnet50")} & shown  # no numbers at all
    incomplete = _cell(board, "cpmid", TASKS[0])
    assert incomplete["n"] == 2 and pd.isna(incomplete["task_rank"]) and pd.isna(incomplete["p_t"])
    ranked = board.overview.dropna(subset=["rank"])
    assert set(ranked["init"]) == {"scratch", "imagenet"} and set(ranked["backbone"]) == {"resnet18"}


def test_paired_t_test_against_the_baseline_matches_scipy(mixed: Path):
    board = build_board(mixed)
    assert board.baseline == "imagenet"
    mine = [make_record(TASKS[1], "cpmid", "resnet18", s)["metrics"]["auroc"] for s in (0, 1, 2)]
    base = [make_record(TASKS[1], "imagenet", "resnet18", s)["metrics"]["auroc"] for s in (0, 1, 2)]
    cell = _cell(board, "cpmid", TASKS[1], "auroc")
    assert cell["delta"] == pytest.approx(np.mean(mine) - np.mean(base))
    assert cell["p_t"] == pytest.approx(scipy_stats.ttest_rel(mine, base).pvalue)
    assert cell["mark"] == ("▲" if cell["p_t"] < 0.05 and cell["delta"] > 0 else "▼" if cell["p_t"] < 0.05 else "≈")
    assert pd.isna(_cell(board, "imagenet", TASKS[1])["p_t"])  # the baseline is not compared with itself


def test_lower_is_better_metrics_flip_the_mark(tmp_path: Path):
    records = grid(tasks=TASKS[:1], inits=("scratch", "imagenet"))
    for record in records:
        record["metrics"]["ece"] = 0.02 if record["init"] == "imagenet" else 0.10 + 0.01 * record["seed"]
    board = build_board(write_results(tmp_path, records))
    assert _cell(board, "scratch", TASKS[0], "ece")["mark"] == "▼"


def test_paired_bootstrap_on_synthetic_predictions():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, 600)
    noisy = np.where(rng.random((2, 600)) < 0.6, targets, rng.integers(0, 3, (2, 600)))
    delta, p = paired_bootstrap(targets, noisy, noisy, "accuracy", resamples=500)
    assert delta == 0 and p == 1
    better = np.where(rng.random((2, 600)) < 0.9, targets, noisy)
    delta, p = paired_bootstrap(targets, better, noisy, "balanced_accuracy", resamples=500)
    expected = np.mean([balanced_accuracy_score(targets, b) - balanced_accuracy_score(targets, n) for b, n in zip(better, noisy)])
    assert delta == pytest.approx(expected) and p <= 2 / 501
    # Under the null (two independent draws of the same classifier) small p-values stay rare.
    p_null = [paired_bootstrap(targets, np.where(rng.random((1, 600)) < 0.6, targets, 0),
                               np.where(rng.random((1, 600)) < 0.6, targets, 0), "accuracy", resamples=200, seed=i)[1]
              for i in range(40)]
    assert np.mean(np.array(p_null) < 0.05) <= 0.15


def test_bootstrap_reaches_the_page_when_records_carry_predictions(tmp_path: Path):
    rng = np.random.default_rng(1)
    targets = rng.integers(0, 3, 300)
    records = []
    for init, accuracy in (("imagenet", 0.6), ("cpmid", 0.9)):
        for seed in (0, 1, 2):
            predicted = np.where(rng.random(300) < accuracy, targets, (targets + 1) % 3)
            name = f"{init}-{seed}.npz"
            (tmp_path / "results" / TASKS[0]).mkdir(parents=True, exist_ok=True)
            np.savez(tmp_path / "results" / TASKS[0] / name, targets=targets, probs=np.eye(3)[predicted])
            records.append(make_record(TASKS[0], init, "resnet18", seed, artifacts={"test_predictions": name}))
    board = build_board(write_results(tmp_path / "results", records))
    assert _cell(board, "cpmid", TASKS[0], "accuracy")["p_bootstrap"] < 0.01
    build_site(board, tmp_path / "site")
    page = (tmp_path / "site" / "task" / f"{TASKS[0]}.html").read_text()
    assert re.search(r"bootstrap p (&lt;|=) 0\.0\d\d", page)


def test_pareto_front():
    speed = np.array([100, 200, 300, 150, 300])
    value = np.array([0.9, 0.8, 0.7, 0.85, 0.6])
    assert pareto_front(speed, value).tolist() == [True, True, True, True, False]
    assert pareto_front(np.array([1, 2]), np.array([0.5, 0.9])).tolist() == [False, True]


def test_the_embedded_definition_names_the_embedded_suite():
    definition = load_definition("embedded")
    assert set(definition.tasks) == set(TASKS) and definition.protocol == "quick" and definition.baseline == ("scratch",)
    assert definition.metrics[0].direction == "higher" and any(m.direction == "lower" for m in definition.metrics)


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parents[1].glob("leaderboards/*.yaml")), ids=lambda p: p.name)
def test_every_shipped_definition_loads(path: Path):
    definition = load_definition(str(path))
    assert definition.tasks and definition.metrics and definition.protocol and set(definition.why) <= set(definition.tasks)


def test_directions_can_be_written_either_way():
    raw = {"title": "t", "tasks": ["a"], "protocol": "quick", "why": {"a": "  because\n it is hard "},
           "metrics": [{"name": "ece", "higher_is_better": False}, {"name": "auroc", "direction": "higher"}]}
    definition = parse_definition(raw, "x", "x.yaml")
    assert [m.direction for m in definition.metrics] == ["lower", "higher"] and definition.why == {"a": "because it is hard"}


@pytest.mark.parametrize("raw, message", [
    ({"title": "t", "tasks": ["a"], "metrics": [{"name": "x"}], "protocol": "quick"}, "unknown metric 'x'"),
    ({"title": "t", "tasks": ["a"], "metrics": [{"name": "ece", "direction": "higher"}], "protocol": "quick"},
     "is better lower"),
    ({"title": "t", "tasks": ["a"], "metrics": [{"name": "auroc"}], "protocol": "quick", "colour": 1}, "unknown field"),
    ({"title": "t", "tasks": {"tagged": "no-such-tag"}, "metrics": [{"name": "auroc"}], "protocol": "quick"}, "no task card"),
    ({"title": "t", "metrics": [{"name": "auroc"}], "protocol": "quick"}, "missing field(s) tasks"),
    ({"title": "t", "tasks": ["a"], "metrics": [{"name": "auroc", "direction": "higher", "higher_is_better": False}],
      "protocol": "quick"}, "two different directions"),
    ({"title": "t", "tasks": ["a"], "metrics": [{"name": "auroc"}], "protocol": "quick", "why": {"b": "?"}}, "not on the leaderboard"),
])
def test_definitions_are_checked_strictly(raw, message):
    with pytest.raises(MedbenchError, match=re.escape(message)):
        parse_definition(raw, "x", "x.yaml")


def test_a_definition_picks_tasks_entries_baseline_and_seeds(mixed: Path, tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text(f"title: Mine\ntasks: [{TASKS[1]}]\nprotocol: quick\nbaseline: [cpmid, scratch]\ninits: [scratch]\n"
                    "seeds: [0, 1]\nmetrics:\n  - {name: auroc, direction: higher}\n  - {name: ece, direction: lower}\n")
    board = build_board(mixed, load_definition(str(path)))
    assert board.baseline == "cpmid" and set(board.states["init"]) == {"scratch", "cpmid"}
    assert set(board.states["task"]) == {TASKS[1]} and set(board.cells["n"].dropna()) == {2}
    assert board.rank_metric == {TASKS[1]: "auroc"}


def test_the_default_definition_takes_the_most_common_protocol_and_says_what_it_left_out(tmp_path: Path):
    records = grid(tasks=TASKS[:1]) + [make_record(TASKS[0], "scratch", "resnet18", 0, protocol="smoke")]
    board = build_board(write_results(tmp_path, records))
    assert board.definition.protocol == "quick" and any("smoke (1)" in note for note in board.notes)
    assert board.baseline == "imagenet" and board.definition.metrics[0].name == "balanced_accuracy"


def test_no_records_of_the_definitions_protocol_names_the_protocol_they_have(tmp_path: Path):
    write_results(tmp_path, [make_record(t, "scratch", "resnet18", 0, protocol="smoke") for t in TASKS])
    with pytest.raises(MedbenchError, match="4 record\\(s\\) of these tasks are protocol 'smoke': pass --protocol smoke"):
        build_board(tmp_path, load_definition("embedded"))


def test_a_cell_is_ranked_on_every_seed_it_ran_beyond_the_declared_ones(tmp_path: Path):
    records = [make_record(TASKS[0], init, "resnet18", seed, protocol="smoke") for init in ("scratch", "cpmid") for seed in (0, 1, 2)]
    board = build_board(write_results(tmp_path, records))
    assert PROTOCOLS.get("smoke").seeds == (0,)
    assert set(board.cells["n"].dropna()) == {3} and set(board.states["state"]) == {"ok"}
    only_zero = build_board(tmp_path, seeds=[0])
    assert set(only_zero.cells["n"].dropna()) == {1}


def test_intervals_stay_inside_the_metrics_range(tmp_path: Path):
    records = [make_record(TASKS[0], init, "resnet18", seed) for init in ("scratch", "cpmid") for seed in (0, 1, 2)]
    for record, auroc in zip(records[3:], (0.99, 0.80, 1.0)):
        record["metrics"] = {**record["metrics"], "auroc": auroc}
    board = build_board(write_results(tmp_path, records))
    cell = _cell(board, "cpmid", TASKS[0], metric="auroc")
    unclipped_high = cell["mean"] + scipy_stats.t.ppf(0.975, 2) * cell["sd"] / np.sqrt(3)
    assert unclipped_high > 1 and cell["ci_high"] == 1.0 and 0 <= cell["ci_low"] < cell["mean"]
    quality = board.cells[board.cells["metric"].isin([m.name for m in QUALITY])]
    assert (quality["ci_low"].dropna() >= 0).all() and (quality["ci_high"].dropna() <= 1).all()


def test_cam_pngs_inside_the_results_are_copied_and_others_ignored(tmp_path: Path):
    results = tmp_path / "results"
    (results / "cams").mkdir(parents=True)
    (results / "cams" / "a.png").write_bytes(PNG)
    (results / "cams" / "fake.png").write_text("not a png")
    (tmp_path / "secret.png").write_bytes(PNG + b"secret")
    records = grid(tasks=TASKS[:1], inits=("scratch",))
    records[0]["artifacts"] = {"cam_pngs": ["../cams/a.png", "../cams/fake.png", "../../secret.png", "/etc/passwd"]}
    build_site(build_board(write_results(results, records)), tmp_path / "site")
    copied = list((tmp_path / "site" / "cams").iterdir())
    assert [p.read_bytes() for p in copied] == [PNG]
    assert f"cams/{copied[0].name}" in (tmp_path / "site" / "entry" / "scratch.html").read_text()


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_pages_carry_the_csp_our_assets_and_only_relative_or_http_links(mixed: Path, tmp_path: Path):
    build_site(build_board(mixed), tmp_path / "site")
    pages = sorted((tmp_path / "site").rglob("*.html"))
    assert len(pages) == 1 + 2 + 5 + 1  # overview, tasks, entries, efficiency
    for page in pages:
        parser = Tags()
        parser.feed(page.read_text())
        csp = [a["content"] for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
        assert csp == ["default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:"]
        assert all(a.get("src", "").endswith(("static/sort.js", "static/scroll-hint.js")) for t, a in parser.tags if t == "script")
        assert not [a for _, a in parser.tags if "style" in a or any(k.startswith("on") for k in a)]
        for _, attrs in parser.tags:
            for key in ("href", "src"):
                value = attrs.get(key, "")
                assert not re.match(r"[a-z]+:", value) or value.startswith(("http://", "https://", "data:image/svg+xml;base64,")), value
    svg = (tmp_path / "site" / "efficiency.html").read_text()
    assert "data:image/svg+xml;base64," in svg


def test_safe_url_accepts_only_absolute_http_links():
    assert safe_url("https://example.org/model?x=1") and safe_url("http://lab.example/a")
    for bad in ("javascript:alert(1)", " https://x.org", "https://x.org/\"onmouseover=1", "data:text/html,x", "//x.org",
                "HTTPS://x.org\njavascript:1", None, 3):
        assert not safe_url(bad), bad


def test_cli_build_export_and_errors(mixed: Path, tmp_path: Path):
    proc = invoke("leaderboard", "build", "--results", str(mixed), "--out", str(tmp_path / "site"))
    index = Path(proc.stdout.strip().splitlines()[-1])
    assert index == (tmp_path / "site" / "index.html").resolve() and index.is_file()
    task_page = (tmp_path / "site" / "task" / f"{TASKS[0]}.html").read_text()
    assert "badge-diverged" in task_page and "badge-incomplete" in task_page and "badge-contaminated" in task_page
    assert "pretrained on ISIC 2018" in task_page

    markdown = invoke("leaderboard", "export", "--results", str(mixed)).stdout
    assert markdown.startswith("## ") and "| 1 " in markdown and "contaminated" in markdown and "(incomplete)" in markdown
    rows = pd.read_csv(tmp_path / "site" / "data" / "leaderboard.csv")
    exported = invoke("leaderboard", "export", "--results", str(mixed), "--format", "csv", "--out", str(tmp_path / "x.csv"))
    assert exported.stdout == "" and pd.read_csv(tmp_path / "x.csv").equals(rows)
    leaky = rows[rows["init"] == "sub-leaky"]
    assert set(leaky["state"]) == {"contaminated"} and leaky["mean"].isna().all()
    data = json.loads(invoke("leaderboard", "export", "--results", str(mixed), "--format", "json").stdout)
    assert data["baseline"] == "imagenet" and data["definition"]["protocol"] == "quick" and len(data["cells"]) == len(rows)

    assert_one_line_error(invoke("leaderboard", "build", "--results", str(tmp_path / "none"), check=False), "does not exist")
    assert_one_line_error(invoke("leaderboard", "build", "--results", str(mixed), "--definition", "nope", check=False),
                          "definition 'nope' not found")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep")
    assert_one_line_error(invoke("leaderboard", "build", "--results", str(mixed), "--out", str(tmp_path / "mine"), check=False),
                          "not a medbench site")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep"


def test_markdown_export_keeps_record_text_inert(tmp_path: Path):
    records = grid(tasks=TASKS[:1], inits=("scratch", "a|b<script>x</script>"))
    markdown = invoke("leaderboard", "export", "--results", str(write_results(tmp_path, records))).stdout
    assert "<script>" not in markdown and "a\\|b&lt;script&gt;" in markdown


def test_a_task_where_every_run_diverged_still_shows_up(tmp_path: Path):
    records = grid(tasks=TASKS[:1]) + [make_record(TASKS[1], "scratch", "resnet18", s, status="diverged") for s in (0, 1, 2)]
    board = build_board(write_results(tmp_path / "results", records))
    assert TASKS[1] in board.rank_metric and _state(board, "scratch", TASKS[1]) == "diverged"
    assert board.overview["rank"].isna().all()  # no row has a clean result on every task
    build_site(board, tmp_path / "site")
    assert "badge-diverged" in (tmp_path / "site" / "task" / f"{TASKS[1]}.html").read_text()


def test_classification_and_segmentation_tasks_rank_by_their_own_metric(tmp_path: Path):
    records = grid(tasks=("synth-xray-cls", "synth-xray-seg"), inits=("scratch", "imagenet"))
    for record in records:
        if record["task"] == "synth-xray-seg":
            iou = record["metrics"]["accuracy"]
            record["metrics"] = record["metrics_last_epoch"] = record["val_metrics"] = {"iou": iou, "dice": 2 * iou / (1 + iou)}
    definition = parse_definition({"title": "Mixed", "tasks": ["synth-xray-cls", "synth-xray-seg"], "protocol": "quick",
                                   "baseline": "imagenet", "metrics": [{"name": n} for n in ("auroc", "balanced_accuracy", "iou", "dice")]},
                                  "mixed", "mixed.yaml")
    board = build_board(write_results(tmp_path / "results", records), definition)
    assert board.rank_metric == {"synth-xray-cls": "auroc", "synth-xray-seg": "iou"}
    assert board.overview["rank"].tolist() == [1, 2] and board.overview["init"].tolist() == ["imagenet", "scratch"]
    build_site(board, tmp_path / "site")
    page = (tmp_path / "site" / "task" / "synth-xray-seg.html").read_text()
    assert "IoU" in page and "Dice" in page and "AUROC" not in page


HOSTILE_NAMES = ("$\\frac{1}{0}$", "_hidden", "file:/home/ana/weights/w.safetensors", "<script>alert(1)</script>", "a--b-->")


def test_plots_name_every_point_and_keep_hostile_names_inert():
    from xml.etree import ElementTree

    from harness.leaderboard.plots import Curve, Point, budget_plot, cost_plot, params_plot, throughput_plot

    spec = next(m for m in QUALITY if m.name == "balanced_accuracy")
    points = [Point(name, "resnet18", 100.0 + i, 11e6, 0.7, 0.68, 0.72, i == 0, 1e12 * (i + 1)) for i, name in enumerate(HOSTILE_NAMES)]
    curves = [Curve(name, "vit_$x$", ("8", "full"), (0.6, 0.7), (0.55, 0.66), (0.65, 0.74)) for name in HOSTILE_NAMES]
    for uri in (throughput_plot(points, spec), params_plot(points, spec), budget_plot(curves, spec),
                cost_plot(points, spec, "training FLOPs")):
        svg = base64.b64decode(uri.removeprefix("data:image/svg+xml;base64,")).decode()
        root = ElementTree.fromstring(svg)  # well formed: every name was escaped
        assert not [e for e in root.iter() if e.tag.endswith("script")]
        assert "/home/ana" not in svg and "<script>" not in svg
        for shown in ("$\\frac{1}{0}$", "_hidden", "file:…/w.safetensors", "&lt;script&gt;alert(1)&lt;/script&gt;"):
            assert f"<!-- {shown} -->" in svg, shown  # drawn literally: no mathtext, no name dropped for its underscore


def test_the_value_axis_spans_a_fifth_of_the_metric_range_and_stays_inside_it():
    from harness.leaderboard.plots import shown_name, value_limits

    spec = next(m for m in QUALITY if m.name == "auroc")
    low, high = value_limits([0.700, 0.705], [0.710, 0.712], spec)  # seed noise of 0.01 does not fill the plot
    assert high - low == pytest.approx(0.2) and low < 0.700 and high > 0.712
    low, high = value_limits([0.95], [1.0], spec)
    assert high <= 1.01 and low <= 0.81 and high - low == pytest.approx(0.2)
    low, high = value_limits([0.0], [0.05], spec)
    assert low >= -0.01 and high >= 0.19
    assert value_limits([0.1], [0.9], spec) == pytest.approx((0.1 - 0.06, 0.9 + 0.06))  # a wide spread is shown whole
    assert shown_name("hf:lab/" + "x" * 40 + "-final") == "hf:lab/xxxxxxx…xxxxxxxxx-final" and len(shown_name("a" * 99)) == 30


def test_one_backbones_rows_share_its_median_throughput_and_an_unavailable_init_is_said(tmp_path: Path):
    """Identical architectures are never ordered by timing noise; a listed init without records is named with why."""
    from harness.leaderboard.render import View, _efficiency_plots

    results = write_results(tmp_path / "results", grid(inits=("scratch", "cpmid")))
    raw = {"title": "t", "tasks": list(TASKS[:2]), "metrics": [{"name": "balanced_accuracy"}], "protocol": "quick",
           "baseline": ["scratch"], "inits": ["scratch", "cpmid", "imagenet"], "unavailable": {"imagenet": "no Hub here"}}
    board = build_board(results, parse_definition(raw, "t", "t.yaml"))
    assert "no records of init imagenet: no Hub here" in board.notes
    for section in _efficiency_plots(View(board, {})):
        speeds = {row["point"].throughput for row in section["legend"]}
        raw_speeds = {_cell(board, row["init"], section["task"], "infer_images_per_s")["mean"] for row in section["legend"]}
        assert len(speeds) == 1 and len(raw_speeds) == 2  # two noisy measurements of one resnet18, one speed shown
        assert all(row["spread"] > 0 for row in section["legend"])
    with pytest.raises(MedbenchError, match="unavailable names init"):
        parse_definition({**raw, "unavailable": {"hf:x/y": "?"}}, "t", "t.yaml")
