"""Init sources resolve to the right weights and provenance, without ever touching the real Hub.

Hub tests fill a Hub-style cache folder in tmp_path. huggingface_hub reads HF_HUB_CACHE and
HF_HUB_OFFLINE when imported, so the in-process tests patch `huggingface_hub.constants` (read at
call time by hf_hub_download), and two tests run the resolution in a subprocess with the real
environment variables: one offline against the cache, one online against a loopback server.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file, save

from harness.errors import MedbenchError, UnknownNameError
from harness.inits import INIT_SOURCES, ResolvedWeights, describe_inits, resolve_init

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMIT_MAIN = "1" * 40
COMMIT_V1 = "2" * 40
TIMM_REPO = "timm/resnet18.a1_in1k"
USER_REPO = "someone/tiny-resnet"


@pytest.fixture(scope="module")
def resnet18() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return timm.create_model("resnet18", pretrained=False).state_dict()


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def fill_cache(
    cache: Path, repo_id: str, commit: str, files: dict[str, bytes], refs: tuple[str, ...] = ("main",)
) -> None:
    """Lay files out as huggingface_hub does: refs/<branch> holds a commit, snapshots/<commit>/ the files."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (snapshot / name).write_bytes(content)


def timm_config(architecture: str = "resnet18", **pretrained_cfg) -> bytes:
    return json.dumps({"architecture": architecture, "num_classes": 1000, "pretrained_cfg": pretrained_cfg}).encode()


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    import huggingface_hub.constants as constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def one_line_error(init: str, backbone: str, match: str) -> str:
    with pytest.raises(MedbenchError, match=match) as info:
        resolve_init(init, backbone)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- registry and grammar ------------------------------------------------------------------


def test_scratch():
    resolved = resolve_init("scratch", "resnet18")
    assert resolved == ResolvedWeights(None, None, {"source": "scratch"})


def test_scratch_takes_no_argument():
    one_line_error("scratch:x", "resnet18", "takes no argument")


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'imagenet'"):
        resolve_init("imagenett", "resnet18")


def test_describe_lists_usages():
    rows = dict(describe_inits())
    assert {"scratch", "imagenet", "file:PATH", "hf:ORG/REPO[@REVISION]"} <= rows.keys()
    assert all(rows.values())


# --- file: --------------------------------------------------------------------------------


def test_file_safetensors(tmp_path, resnet18):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(save(resnet18))
    resolved = resolve_init(f"file:{path}", "resnet18")
    assert_same(resolved.state_dict, resnet18)
    assert resolved.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert resolved.provenance == {"source": "file", "reference": f"file:{path}", "path": str(path)}
    assert resolved.mean is None and resolved.std is None
    json.dumps(resolved.provenance)


def test_file_needs_a_path_and_an_existing_file(tmp_path):
    one_line_error("file:", "resnet18", "needs an argument; use --init file:PATH")
    message = one_line_error(f"file:{tmp_path / 'nope.safetensors'}", "resnet18", "does not exist")
    assert str(tmp_path / "nope.safetensors") in message


# --- imagenet (in process, patched cache) ----------------------------------------------------


@pytest.mark.parametrize("backbone", ["resnet18", "resnet18.a1_in1k"])
def test_imagenet_from_cache(hub_cache, resnet18, backbone):
    fill_cache(hub_cache, TIMM_REPO, COMMIT_MAIN, {"model.safetensors": save(resnet18)})
    resolved = resolve_init("imagenet", backbone)
    assert_same(resolved.state_dict, resnet18)
    assert resolved.provenance["revision"] == COMMIT_MAIN
    assert resolved.provenance["hub_repo"] == TIMM_REPO
    assert resolved.provenance["timm_tag"] == "resnet18.a1_in1k"
    assert resolved.provenance["file"] == "model.safetensors"
    assert resolved.provenance["license"] == "apache-2.0"
    assert resolved.mean == (0.485, 0.456, 0.406) and resolved.std == (0.229, 0.224, 0.225)
    json.dumps(resolved.provenance)


def test_imagenet_falls_back_to_pytorch_model_bin(hub_cache, resnet18):
    buffer = io.BytesIO()
    torch.save(resnet18, buffer)
    fill_cache(hub_cache, TIMM_REPO, COMMIT_MAIN, {"pytorch_model.bin": buffer.getvalue()})
    resolved = resolve_init("imagenet", "resnet18")
    assert_same(resolved.state_dict, resnet18)
    assert resolved.provenance["file"] == "pytorch_model.bin"


def test_imagenet_empty_cache_says_what_to_do(hub_cache):
    message = one_line_error("imagenet", "resnet18", "not in the Hugging Face cache")
    assert str(hub_cache / "models--timm--resnet18.a1_in1k") in message
    assert "HF_HUB_OFFLINE" in message and "go online once" in message and "--init file:PATH" in message


@pytest.mark.parametrize(
    "backbone, problem",
    [
        ("no_such_net", "unknown backbone"),
        ("resnet18.bogus", "no pretrained tag 'bogus'.*resnet18.a1_in1k"),
        ("botnet50ts_256", "timm has no pretrained weights"),
        ("gcvit_tiny", "not on the Hugging Face Hub"),
        ("cspnext_s", "outside timm's Hub layout"),
    ],
)
def test_imagenet_backbones_without_usable_weights(hub_cache, backbone, problem):
    one_line_error("imagenet", backbone, problem)


# --- hf:ORG/REPO[@REVISION] (in process, patched cache) ---------------------------------------


@pytest.fixture
def user_repo(hub_cache, resnet18) -> dict[str, dict[str, torch.Tensor]]:
    """main and branch v1 at different commits with different weights and normalisation."""
    older = {k: v + 1 if v.is_floating_point() else v for k, v in resnet18.items()}
    main_config = timm_config(mean=[0.5], std=[0.25], license="cc-by-4.0")
    fill_cache(hub_cache, USER_REPO, COMMIT_MAIN, {"config.json": main_config, "model.safetensors": save(resnet18)})
    v1_files = {"config.json": timm_config(), "model.safetensors": save(older)}
    fill_cache(hub_cache, USER_REPO, COMMIT_V1, v1_files, refs=("v1",))
    return {COMMIT_MAIN: resnet18, COMMIT_V1: older}


@pytest.mark.parametrize(
    "init, commit",
    [(f"hf:{USER_REPO}", COMMIT_MAIN), (f"hf:{USER_REPO}@main", COMMIT_MAIN),
     (f"hf:{USER_REPO}@v1", COMMIT_V1), (f"hf:{USER_REPO}@{COMMIT_V1}", COMMIT_V1)],
)  # fmt: skip
def test_hf_repo_revision_resolves_to_commit(user_repo, init, commit):
    resolved = resolve_init(init, "resnet18")
    assert_same(resolved.state_dict, user_repo[commit])
    assert resolved.provenance["revision"] == commit
    assert resolved.provenance["reference"] == f"hf:{USER_REPO}@{commit}"
    assert resolved.provenance["architecture"] == "resnet18"
    json.dumps(resolved.provenance)


def test_hf_repo_reads_normalisation_and_license(user_repo):
    main = resolve_init(f"hf:{USER_REPO}", "resnet18.a1_in1k")
    assert (main.mean, main.std, main.provenance["license"]) == ((0.5,), (0.25,), "cc-by-4.0")
    v1 = resolve_init(f"hf:{USER_REPO}@v1", "resnet18")
    assert (v1.mean, v1.std) == (None, None)


def test_hf_repo_architecture_mismatch(user_repo):
    one_line_error(f"hf:{USER_REPO}", "resnet50", "holds weights for 'resnet18', not 'resnet50'")


def test_hf_repo_missing(hub_cache):
    message = one_line_error("hf:nobody/nothing", "resnet18", "not in the Hugging Face cache")
    assert str(hub_cache / "models--nobody--nothing") in message


def test_hf_repo_unknown_branch(user_repo):
    one_line_error(f"hf:{USER_REPO}@v2", "resnet18", "not in the Hugging Face cache")


@pytest.mark.parametrize("spec", ["hf:", "hf:noslash", "hf:a/b/c", "hf:/repo", "hf:org/repo@"])
def test_hf_repo_spec_must_be_org_slash_repo(hub_cache, spec):
    one_line_error(spec, "resnet18", "needs an argument|cannot read")


def test_hf_repo_with_bad_config(hub_cache, resnet18):
    fill_cache(hub_cache, USER_REPO, COMMIT_MAIN, {"config.json": b"{not json", "model.safetensors": save(resnet18)})
    one_line_error(f"hf:{USER_REPO}", "resnet18", "as JSON")


# --- real environment variables in a subprocess ----------------------------------------------

RESOLVE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from safetensors.torch import save_file
    from harness.errors import MedbenchError
    from harness.inits import resolve_init

    out = {}
    for init, backbone, dump in json.loads(sys.argv[1]):
        try:
            resolved = resolve_init(init, backbone)
            save_file(resolved.state_dict, dump)
            out[init + " " + backbone] = {"provenance": resolved.provenance, "sha256": resolved.sha256}
        except MedbenchError as e:
            out[init + " " + backbone] = {"error": str(e)}
    print(json.dumps(out))
    """
)


def resolve_in_subprocess(cases: list[tuple[str, str, str]], env: dict[str, str]) -> dict:
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_DISABLE_TELEMETRY": "1", **env}
    done = subprocess.run([sys.executable, "-c", RESOLVE_SCRIPT, json.dumps(cases)], env=full_env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # a fresh interpreter importing torch and timm
def test_imagenet_offline_with_real_env_vars(tmp_path, resnet18):
    cache = tmp_path / "hub"
    fill_cache(cache, TIMM_REPO, COMMIT_MAIN, {"model.safetensors": save(resnet18)})
    env = {"HF_HOME": str(tmp_path / "home"), "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    dump = tmp_path / "resolved.safetensors"
    out = resolve_in_subprocess([("imagenet", "resnet18", str(dump)), ("imagenet", "resnet50", "")], env)
    assert out["imagenet resnet18"]["provenance"]["revision"] == COMMIT_MAIN
    assert_same(load_file(dump), resnet18)
    error = out["imagenet resnet50"]["error"]
    assert str(cache / "models--timm--resnet50.a1_in1k") in error and "HF_HUB_OFFLINE is set" in error


class FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers /ORG/NAME/resolve/REVISION/FILE the way the Hub does, from `files`."""

    files: dict[tuple[str, str], bytes] = {}
    commits: dict[str, str] = {}

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, send_body: bool) -> None:
        parts = self.path.lstrip("/").split("/", 4)
        if len(parts) != 5 or parts[2] != "resolve":  # other API calls huggingface_hub may make
            self._fail(404, None, None)
            return
        org, name, _, revision, filename = parts
        repo = f"{org}/{name}"
        commit = self.commits.get(repo)
        content = self.files.get((repo, filename))
        if commit is None:
            self._fail(404, "RepoNotFound", None)
        elif revision not in ("main", commit):
            self._fail(404, "RevisionNotFound", commit)
        elif content is None:
            self._fail(404, "EntryNotFound", commit)
        else:
            self.send_response(200)
            self.send_header("X-Repo-Commit", commit)
            self.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if send_body:
                self.wfile.write(content)

    def _fail(self, status: int, code: str | None, commit: str | None) -> None:
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_hub(resnet18):
    buffer = io.BytesIO()
    torch.save(resnet18, buffer)
    FakeHub.commits = {TIMM_REPO: COMMIT_MAIN, USER_REPO: COMMIT_V1}
    FakeHub.files = {
        (TIMM_REPO, "model.safetensors"): save(resnet18),
        (USER_REPO, "config.json"): timm_config(mean=[0.1, 0.2, 0.3], std=[0.4, 0.5, 0.6]),
        (USER_REPO, "pytorch_model.bin"): buffer.getvalue(),  # no model.safetensors: the .bin fallback
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow  # a fresh interpreter importing torch and timm
def test_online_downloads_from_a_loopback_hub(tmp_path, fake_hub, resnet18):
    cache = tmp_path / "hub"
    env = {"HF_HOME": str(tmp_path / "home"), "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": fake_hub,
           "HF_HUB_DISABLE_XET": "1", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}  # fmt: skip
    imagenet_dump, user_dump = tmp_path / "imagenet.safetensors", tmp_path / "user.safetensors"
    out = resolve_in_subprocess(
        [("imagenet", "resnet18", str(imagenet_dump)), (f"hf:{USER_REPO}", "resnet18", str(user_dump)),
         ("hf:nobody/nothing", "resnet18", ""), (f"hf:{USER_REPO}@v9", "resnet18", "")],
        env,
    )  # fmt: skip
    imagenet = out["imagenet resnet18"]["provenance"]
    assert (imagenet["revision"], imagenet["file"]) == (COMMIT_MAIN, "model.safetensors")
    assert_same(load_file(imagenet_dump), resnet18)
    user = out[f"hf:{USER_REPO} resnet18"]["provenance"]
    assert (user["revision"], user["file"]) == (COMMIT_V1, "pytorch_model.bin")
    assert_same(load_file(user_dump), resnet18)
    assert "does not exist or is private" in out["hf:nobody/nothing resnet18"]["error"]
    assert "has no revision 'v9'" in out[f"hf:{USER_REPO}@v9 resnet18"]["error"]
    assert (cache / "models--timm--resnet18.a1_in1k" / "refs" / "main").read_text() == COMMIT_MAIN


# --- plugins ------------------------------------------------------------------------------

PLUGIN_MODULE = '''
from harness.inits import ResolvedWeights


class EchoSource:
    """Says back what it was given."""

    name = "echo"

    def __init__(self, arg=None):
        self.arg = arg

    def resolve(self, backbone):
        return ResolvedWeights(None, None, {"source": "echo", "arg": self.arg, "backbone": backbone})


def broken(arg=None):
    """Returns the wrong thing."""

    class Broken:
        def resolve(self, backbone):
            return {"state_dict": None}

    return Broken()
'''


def test_entry_point_plugin_from_an_installed_distribution(tmp_path, monkeypatch):
    site = tmp_path / "site"
    dist_info = site / "medbench_echo_plugin-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: medbench-echo-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        "[medbench.inits]\necho = medbench_echo_plugin:EchoSource\nbroken = medbench_echo_plugin:broken\n"
    )
    (site / "medbench_echo_plugin.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "medbench_echo_plugin", raising=False)
    # A fresh look at entry points, undone after the test.
    monkeypatch.setattr(INIT_SOURCES, "_entries", dict(INIT_SOURCES._entries))
    monkeypatch.setattr(INIT_SOURCES, "_plugins_loaded", False)

    resolved = resolve_init("echo:hello", "resnet18")
    assert resolved.provenance == {"source": "echo", "arg": "hello", "backbone": "resnet18"}
    assert ("echo", "Says back what it was given.") in describe_inits()
    one_line_error("broken", "resnet18", "returned a dict, not ResolvedWeights")
