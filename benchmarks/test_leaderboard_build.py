"""Building the leaderboard site from 1,000 records (4 tasks × 10 inits × 5 backbones × 5 seeds of the
`paper` protocol, in the real record schema) must take under 10 seconds on 2 CPU cores: load, aggregate
(statistics, paired tests), render every page and plot, write the downloads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.leaderboard import build_board, build_site
from tests.test_leaderboard_records import TASKS, make_record, write_results

INITS = ["scratch", "imagenet", "cpmid"] + [f"hf:lab-{i}/weights" for i in range(7)]
BACKBONES = ["resnet18", "resnet50", "vit_tiny_patch16_224", "resnet34", "convnext_nano"]
LIMIT_S = 10.0


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench-results")
    records = [make_record(task, init, backbone, seed, protocol="paper", skill=0.01 * i)
               for task in TASKS for i, init in enumerate(INITS) for backbone in BACKBONES for seed in range(5)]
    assert len(records) == 1000
    return write_results(folder, records)


def test_build_site_from_1000_records(benchmark, results: Path, tmp_path: Path):
    def build() -> Path:
        return build_site(build_board(results), tmp_path / "site")

    started = time.perf_counter()
    index = benchmark.pedantic(build, rounds=3, iterations=1, warmup_rounds=0)
    slowest = (time.perf_counter() - started) / 3 if benchmark.stats is None else benchmark.stats.stats.max
    assert index.is_file() and len(list((tmp_path / "site" / "entry").glob("*.html"))) == len(INITS)
    benchmark.extra_info["records"] = 1000
    assert slowest < LIMIT_S, f"building from 1,000 records took {slowest:.1f} s (limit {LIMIT_S} s)"
