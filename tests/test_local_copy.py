"""`medbench data link`: a local copy under another name becomes the card's data, by a symlink in the data folder."""

from __future__ import annotations

from pathlib import Path

from harness.data import data_status
from harness.tasks import get_task
from tests.conftest import assert_one_line_error, invoke


def test_a_folder_under_another_name_is_linked_where_the_card_looks(isolated_home: Path, tmp_path: Path):
    copy = tmp_path / "kvasir_seg_200"
    (copy / "images").mkdir(parents=True)
    (copy / "masks").mkdir()
    assert data_status(get_task("kvasir-seg")).state == "missing"
    out = invoke("data", "link", "kvasir-seg", str(copy))
    link = isolated_home / "data" / "Kvasir-SEG"
    assert link.is_symlink() and link.resolve() == copy.resolve() and "(present)" in out.stdout
    assert data_status(get_task("kvasir-seg")) == ("present", str(link))
    assert_one_line_error(invoke("data", "link", "kvasir-seg", str(copy), check=False), "already finds its data")
    link.unlink()


def test_a_medmnist_file_is_linked_under_its_published_name(isolated_home: Path, tmp_path: Path):
    copy = tmp_path / "my-breast.npz"
    copy.write_bytes(b"not checked here: `data verify` does that")
    invoke("data", "link", "breastmnist", str(copy))
    link = isolated_home / "data" / "breastmnist.npz"
    assert link.resolve() == copy.resolve() and data_status(get_task("breastmnist")).state == "present"
    link.unlink()


def test_link_refuses_the_wrong_kind_of_source_and_generated_tasks(isolated_home: Path, tmp_path: Path):
    assert_one_line_error(invoke("data", "link", "kvasir-seg", str(tmp_path / "absent"), check=False),
                          "is not a folder", "Kvasir-SEG")
    (tmp_path / "f.npz").write_bytes(b"x")
    assert_one_line_error(invoke("data", "link", "kvasir-seg", str(tmp_path / "f.npz"), check=False), "is not a folder")
    assert_one_line_error(invoke("data", "link", "breastmnist", str(tmp_path), check=False), "is not a file")
    assert_one_line_error(invoke("data", "link", "synth-xray-cls", str(tmp_path), check=False), "generated")
    assert not (isolated_home / "data" / "Kvasir-SEG").exists()
