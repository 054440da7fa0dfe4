"""Publishing a built site: to a folder (replaced whole, never a folder that is not a site) and to a
Hugging Face Space through huggingface_hub, against a loopback server on 127.0.0.1 that emulates
the endpoints huggingface_hub 2.4 calls for create_repo + upload_folder."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import pytest

from tests.conftest import assert_one_line_error, invoke, run_cli
from tests.test_leaderboard_records import grid, write_results


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("publish")
    write_results(folder / "results", grid(inits=("scratch", "imagenet")))
    invoke("leaderboard", "build", "--results", str(folder / "results"), "--out", str(folder / "site"))
    return folder / "site"


def test_publish_to_a_folder_replaces_the_earlier_build_and_keeps_the_rest(site: Path, tmp_path: Path):
    target = tmp_path / "pages"
    target.mkdir()
    proc = invoke("leaderboard", "publish", str(site), "--to", "dir", str(target))
    assert proc.stdout.strip() == str((target / "index.html").resolve())
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == sorted(p.relative_to(site) for p in site.rglob("*"))
    manifest = json.loads((target / ".medbench-site").read_text())
    (target / "entry" / "stale.html").write_text("from an older build")  # a page the earlier build wrote
    (target / ".medbench-site").write_text(json.dumps({**manifest, "files": manifest["files"] + ["entry/stale.html"]}))
    (target / "CNAME").write_text("bench.example.org\n")  # the user's own files, e.g. a Pages checkout
    (target / ".git").mkdir()
    (target / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    invoke("leaderboard", "publish", str(site), "--to", "dir", str(target))
    assert not (target / "entry" / "stale.html").exists()
    assert (target / "CNAME").read_text() == "bench.example.org\n" and (target / ".git" / "HEAD").is_file()


def test_publish_refuses_a_folder_that_is_not_a_site(site: Path, tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("keep me")
    assert_one_line_error(invoke("leaderboard", "publish", str(site), "--to", "dir", str(tmp_path / "docs"), check=False),
                          "is not a medbench site")
    assert (tmp_path / "docs" / "notes.md").read_text() == "keep me"
    assert_one_line_error(invoke("leaderboard", "publish", str(tmp_path / "docs"), "--to", "dir", str(tmp_path / "x"),
                                  check=False), "is not a built leaderboard")


class FakeHub(BaseHTTPRequestHandler):
    """Just enough of the Hub API: create repo, list tree, preupload (everything 'regular'), ndjson commit."""

    repos: ClassVar[dict[str, dict[str, bytes]]] = {}
    calls: ClassVar[list[tuple[str, str]]] = []
    authorizations: ClassVar[set[str]] = set()

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _repo(self, parts: list[str]) -> str:
        return f"{parts[1]}/{parts[2]}/{parts[3]}"  # e.g. spaces/org/name

    def do_GET(self) -> None:
        parts = urlparse(self.path).path.strip("/").split("/")
        self.calls.append(("GET", "/".join(parts[:2] + parts[4:5])))
        if parts[0] == "api" and len(parts) >= 5 and parts[4] == "tree":
            files = self.repos.get(self._repo(parts), {})
            return self._reply(200, [{"type": "file", "path": p, "oid": "0" * 40, "size": len(b)} for p, b in files.items()])
        self._reply(404, {"error": "not emulated"})

    def do_POST(self) -> None:
        parts = urlparse(self.path).path.strip("/").split("/")
        body = self._body()
        self.authorizations.add(self.headers.get("Authorization", ""))
        if parts[:3] == ["api", "repos", "create"]:
            request = json.loads(body)
            key = f"{request.get('type', 'model')}s/{request['organization']}/{request['name']}"  # models send no type
            self.calls.append(("POST", f"create {key} sdk={request.get('sdk')}"))
            url = f"http://{self.headers['Host']}/{key}"
            if key in self.repos:  # the Hub answers 409 with the repo's url
                return self._reply(409, {"error": "You already created this space repo", "url": url})
            self.repos[key] = {"README.md": b"---\nsdk: static\n---\n"}
            return self._reply(200, {"url": url})
        if parts[:2] == ["api", "validate-yaml"]:  # a model card's metadata check before upload
            self.calls.append(("POST", "validate-yaml"))
            return self._reply(200, {"errors": [], "warnings": []})
        if len(parts) < 5:
            return self._reply(404, {"error": "not emulated"})
        repo = self._repo(parts)
        if len(parts) >= 5 and parts[4] == "preupload":
            self.calls.append(("POST", f"preupload {repo}"))
            files = json.loads(body)["files"]
            return self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                               for f in files]})
        if len(parts) >= 5 and parts[4] == "commit":
            self.calls.append(("POST", f"commit {repo}"))
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    self.repos[repo][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] == "deletedFile":
                    self.repos[repo].pop(item["value"]["path"], None)
            return self._reply(200, {"commitUrl": f"http://{self.headers['Host']}/{repo}/commit/{'a' * 40}", "commitOid": "a" * 40,
                                     "pullRequestUrl": None})
        self._reply(404, {"error": "not emulated"})


@pytest.fixture
def hub():
    FakeHub.repos, FakeHub.calls, FakeHub.authorizations = {}, [], set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_publish_to_a_hugging_face_static_space(site: Path, hub: str, tmp_path: Path):
    env = {"HF_ENDPOINT": hub, "HF_TOKEN": "hf_fake_write_token", "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_OFFLINE": "0"}
    proc = run_cli("leaderboard", "publish", str(site), "--to", "hf", "lab/leaderboard", env=env)
    assert "/commit/" in proc.stdout
    uploaded = FakeHub.repos["spaces/lab/leaderboard"]
    built = {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    built.pop(".medbench-site")
    assert {k: v for k, v in uploaded.items() if k != "README.md"} == built
    assert ("POST", "create spaces/lab/leaderboard sdk=static") in FakeHub.calls
    assert FakeHub.authorizations == {"Bearer hf_fake_write_token"}

    # A second publish after an init source disappeared: its page is deleted, the Space's README kept.
    uploaded["entry/gone.html"] = b"old"
    run_cli("leaderboard", "publish", str(site), "--to", "hf", "lab/leaderboard", env=env)
    assert "entry/gone.html" not in uploaded and "README.md" in uploaded


def test_publish_errors_from_the_hub_are_one_line(site: Path, hub: str, tmp_path: Path):
    env = {"HF_ENDPOINT": hub, "HF_TOKEN": "hf_fake", "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "0"}
    proc = run_cli("leaderboard", "publish", str(site), "--to", "hf", "not a repo id!", env=env, check=False)
    assert_one_line_error(proc, "publishing to not a repo id! failed")
