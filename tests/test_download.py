"""`medbench data fetch / verify` against a loopback HTTP server on 127.0.0.1: never the real network."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import yaml

from harness.data import data_status, load_data
from harness.data.download import download, fetch_task, mirrored, verify_task
from harness.errors import MedbenchError
from harness.tasks import get_task, parse_card
from tests.conftest import assert_one_line_error, invoke

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB: more than one read chunk


class Server:
    """Routes: path → (status, body, announced Content-Length). Records every requested path."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, int]] = {}
        self.requested: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requested.append(self.path)
                status, body, length = server.routes.get(self.path.split("?")[0], (404, b"", 0))
                self.send_response(status)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"

    def serve(self, path: str, body: bytes, status: int = 200, length: int | None = None) -> str:
        self.routes[path] = (status, body, len(body) if length is None else length)
        return f"{self.base}{path}"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_file_is_downloaded_and_checked(server: Server, tmp_path: Path):
    url = server.serve("/files/demo.npz", PAYLOAD)
    path = download(url + "?download=1", tmp_path / "demo.npz", _md5(PAYLOAD), progress=False)
    assert path.read_bytes() == PAYLOAD and _leftovers(tmp_path) == ["demo.npz"]


@pytest.mark.parametrize("route, expected", [
    (dict(body=b"other bytes"), "has md5"),
    (dict(body=PAYLOAD[:1000], length=len(PAYLOAD)), f"stopped after 1000 of {len(PAYLOAD)} bytes"),
    (dict(body=b"", status=500), "HTTP 500"),
])
def test_failed_download_leaves_nothing_behind(server: Server, tmp_path: Path, route: dict, expected: str):
    url = server.serve("/demo.npz", **route)
    with pytest.raises(MedbenchError, match=expected):
        download(url, tmp_path / "data" / "demo.npz", _md5(PAYLOAD), progress=False)
    assert _leftovers(tmp_path / "data") == []  # neither the file nor a temp file


def test_a_closed_port_is_a_clear_error(tmp_path: Path):
    srv = Server()
    url = srv.serve("/demo.npz", PAYLOAD)
    srv.httpd.server_close()  # nobody listens any more
    with pytest.raises(MedbenchError, match="download of .* failed"):
        download(url, tmp_path / "demo.npz", _md5(PAYLOAD), progress=False)


def test_mirror_replaces_everything_before_the_file_name():
    url = "https://zenodo.org/records/10519652/files/breastmnist_224.npz?download=1"
    assert mirrored(url, "http://127.0.0.1:9/mm/") == "http://127.0.0.1:9/mm/breastmnist_224.npz"
    assert mirrored(url, None) == url


def test_real_card_goes_to_the_mirror_and_a_wrong_file_is_refused(server: Server, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch):
    server.serve("/mm/breastmnist_224.npz", b"not the published file")
    monkeypatch.setenv("MEDBENCH_MEDMNIST_URL_BASE", f"{server.base}/mm")
    with pytest.raises(MedbenchError, match="expected b56378a6eefa9fed602bb16d192d4c8b"):
        fetch_task(get_task("breastmnist_224"), tmp_path, progress=False)
    assert server.requested == ["/mm/breastmnist_224.npz"] and _leftovers(tmp_path) == []


def _card_dir(tmp_path: Path, url: str, md5: str) -> Path:
    cards = tmp_path / "cards"
    cards.mkdir()
    card = {"name": "loop-mnist", "kind": "binary", "description": "served by the test", "label_names": ["a", "b"],
            "source": {"loader": "medmnist", "args": {"file": "loop-mnist.npz"}}, "channels": 1, "image_size": 28,
            "splits": {"train": 4, "val": 4, "test": 4}, "metrics": ["accuracy"], "license": "CC0",
            "citation": "none", "url": url, "md5": md5}
    (cards / "loop-mnist.yaml").write_text(yaml.safe_dump(card))
    return cards


def _npz_bytes(tmp_path: Path) -> bytes:
    rng = np.random.default_rng(0)
    arrays = {f"{s}_{k}": rng.integers(0, 2 if k == "labels" else 255, (4, 1) if k == "labels" else (4, 28, 28),
                                       dtype=np.uint8) for s in ("train", "val", "test") for k in ("images", "labels")}
    np.savez(tmp_path / "blob.npz", **arrays)
    return (tmp_path / "blob.npz").read_bytes()


def test_fetch_and_verify_from_the_command_line(server: Server, tmp_path: Path):
    blob = _npz_bytes(tmp_path)
    env = {"MEDBENCH_TASK_DIRS": str(_card_dir(tmp_path, "https://example.invalid/x/loop-mnist.npz", _md5(blob)))}
    server.serve("/mirror/loop-mnist.npz", blob)
    data = tmp_path / "data"

    fetched = invoke("data", "fetch", "loop-mnist", "--data-dir", str(data), "--mirror", f"{server.base}/mirror",
                      "--quiet", env=env)
    assert "downloaded, md5 ok" in fetched.stdout and (data / "loop-mnist.npz").read_bytes() == blob
    again = invoke("data", "fetch", "loop-mnist", "--data-dir", str(data), "--mirror", f"{server.base}/mirror",
                    "--quiet", env=env)
    assert "already present" in again.stdout and server.requested == ["/mirror/loop-mnist.npz"]
    assert "loop-mnist" in invoke("data", "verify", "--data-dir", str(data), env=env).stdout

    (data / "loop-mnist.npz").write_bytes(blob[:-10])
    assert_one_line_error(invoke("data", "verify", "--data-dir", str(data), env=env, check=False),
                          "1 of 1 file(s) failed (loop-mnist)", "--force")
    refused = invoke("data", "fetch", "loop-mnist", "--data-dir", str(data), "--mirror", f"{server.base}/mirror",
                      "--quiet", env=env, check=False)
    assert_one_line_error(refused, "exists with md5", "--force")
    invoke("data", "fetch", "loop-mnist", "--data-dir", str(data), "--mirror", f"{server.base}/mirror", "--quiet",
            "--force", env=env)
    assert (data / "loop-mnist.npz").read_bytes() == blob


def test_verify_tells_a_valid_but_different_file_from_a_corrupt_one(tmp_path: Path):
    blob = _npz_bytes(tmp_path)
    env = {"MEDBENCH_TASK_DIRS": str(_card_dir(tmp_path, "https://example.invalid/x/loop-mnist.npz", _md5(PAYLOAD)))}
    data = tmp_path / "data"
    data.mkdir()
    (data / "loop-mnist.npz").write_bytes(blob)  # a valid MedMNIST layout, not the published bytes
    differs = invoke("data", "verify", "--data-dir", str(data), env=env)
    assert "differs from the published file, valid MedMNIST layout (train 4 / val 4 / test 4 of 28×28)" in differs.stdout
    assert "not comparable with published ones" in differs.stdout and "corrupt" not in differs.stdout
    (data / "loop-mnist.npz").write_bytes(blob[: len(blob) // 2])
    corrupt = invoke("data", "verify", "--data-dir", str(data), env=env, check=False)
    assert corrupt.exit_code == 2 and "corrupt:" in corrupt.stdout and "not a readable .npz" in corrupt.stdout


@pytest.mark.parametrize("route, fragment", [
    (dict(body=b"corrupt"), "has md5"),
    (dict(body=b"12345", length=999), "stopped after 5 of 999 bytes"),
    (dict(body=b"", status=500), "HTTP 500"),
])
def test_failed_fetch_is_one_line_on_the_command_line(server: Server, tmp_path: Path, route: dict, fragment: str):
    env = {"MEDBENCH_TASK_DIRS": str(_card_dir(tmp_path, f"{server.base}/loop-mnist.npz", _md5(PAYLOAD)))}
    server.serve("/loop-mnist.npz", **route)
    proc = invoke("data", "fetch", "loop-mnist", "--data-dir", str(tmp_path / "data"), "--quiet", env=env, check=False)
    assert_one_line_error(proc, fragment)
    assert _leftovers(tmp_path / "data") == []


def test_fetch_by_size_asks_for_the_medmnist_plus_file(server: Server, tmp_path: Path):
    proc = invoke("data", "fetch", "breastmnist", "--size", "224", "--data-dir", str(tmp_path), "--quiet",
                   env={"MEDBENCH_MEDMNIST_URL_BASE": server.base}, check=False)
    assert_one_line_error(proc, "HTTP 404")
    assert server.requested == ["/breastmnist_224.npz"]


def test_fetched_files_are_found_without_data_dir(isolated_home: Path, shared_data: Path, tmp_path: Path):
    (isolated_home / "data").mkdir(parents=True, exist_ok=True)
    target = isolated_home / "data" / "breastmnist.npz"
    target.write_bytes((shared_data / "medmnist" / "breastmnist.npz").read_bytes())
    try:
        assert len(load_data(get_task("breastmnist"), tmp_path).train) == 546  # not in tmp_path: found under the home
        assert data_status(get_task("breastmnist"), tmp_path) == ("present", str(target))
        path, state = verify_task(get_task("breastmnist"))
        assert path == target and state.startswith("md5 mismatch")  # the team's copy is re-saved (see its README)
    finally:
        target.unlink()


def test_a_card_with_a_url_needs_a_valid_md5():
    card = {"name": "x", "kind": "binary", "description": "d", "source": {"loader": "medmnist", "args": {"file": "x"}},
            "label_names": ["a", "b"], "channels": 1, "image_size": 28, "splits": {"train": 1, "val": 1, "test": 1},
            "metrics": ["accuracy"], "license": "CC0", "citation": "c"}
    with pytest.raises(MedbenchError, match="needs the file's md5"):
        parse_card({**card, "url": "http://127.0.0.1/x"}, "c.yaml")
    with pytest.raises(MedbenchError, match="32 hex digits"):
        parse_card({**card, "url": "http://127.0.0.1/x", "md5": "abc"}, "c.yaml")


def test_a_task_without_url_says_where_to_get_its_data(tmp_path: Path):
    with pytest.raises(MedbenchError, match="kvasir-seg has no download URL.*datasets.simula.no"):
        fetch_task(get_task("kvasir-seg"), tmp_path, progress=False)
