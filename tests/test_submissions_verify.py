"""Verification in-process: checksum, fit to the backbone, Hub pinning, https downloads, the init source, image checks.

Downloads are tested against a TLS server on 127.0.0.1 with a certificate made for the test
(trusted through SSL_CERT_FILE), and Hub references against a Hub-style cache folder: nothing
here touches the network.
"""

from __future__ import annotations

import hashlib
import http.server
import shutil
import ssl
import subprocess
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from harness.data import load_data
from harness.errors import MedbenchError
from harness.inits import resolve_init
from harness.submissions.download import download_cache, fetch_https
from harness.submissions.images import check_images
from harness.submissions.manifest import load_manifest
from harness.submissions.verify import check_fit, verify
from harness.tasks import get_task
from tests.test_inits import fill_cache, timm_config
from tests.test_submissions_kit import resnet18_state_dict, safetensors_bytes, write_submission

COMMIT = "3" * 40


@pytest.fixture(scope="module")
def resnet18() -> dict[str, torch.Tensor]:
    return resnet18_state_dict()


@pytest.fixture(scope="module")
def weights(resnet18) -> bytes:
    return safetensors_bytes(resnet18)


def test_a_valid_file_submission_verifies(tmp_path, weights):
    verified = verify(load_manifest(write_submission(tmp_path, weights)))
    assert verified.weights.sha256 == hashlib.sha256(weights).hexdigest()
    assert verified.report.matched_fraction == 1.0 and not verified.report.mis_shaped
    assert verified.resolved_reference == f"file:{(tmp_path / 'weights.safetensors').resolve()}"


def test_a_wrong_sha256_is_refused(tmp_path, weights):
    with pytest.raises(MedbenchError, match=f"have sha256 {hashlib.sha256(weights).hexdigest()}, but the manifest says 1111"):
        verify(load_manifest(write_submission(tmp_path, weights, sha256="1" * 64)))


def test_a_missing_weights_file_says_where_it_should_be(tmp_path):
    with pytest.raises(MedbenchError, match="weights.safetensors.*does not exist; put it beside manifest.yaml"):
        verify(load_manifest(write_submission(tmp_path)))


def test_a_symlink_out_of_the_manifest_folder_is_refused(tmp_path, weights):
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(weights)
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "weights.safetensors").symlink_to(outside)
    manifest = load_manifest(write_submission(folder, sha256=hashlib.sha256(weights).hexdigest()))
    with pytest.raises(MedbenchError, match="lead outside the manifest's folder"):
        verify(manifest)


# --- fit: the whole backbone, nothing else ----------------------------------------------------


def fit_error(state_dict: dict[str, torch.Tensor]) -> str:
    with pytest.raises(MedbenchError) as info:
        check_fit("resnet18", state_dict)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_wrong_shape_names_the_first_offending_key(resnet18):
    bad = dict(resnet18)
    bad["layer3.1.conv2.weight"] = torch.zeros(256, 256, 1, 1)
    bad["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)  # earlier in the model: reported first
    message = fit_error(bad)
    assert "'layer1.0.conv1.weight' has shape (64, 64, 1, 1), but resnet18 needs (64, 64, 3, 3)" in message
    assert "2 problem(s)" in message


def test_a_missing_or_stray_tensor_is_named(resnet18):
    missing = {k: v for k, v in resnet18.items() if k != "layer2.0.bn1.running_var"}
    assert "'layer2.0.bn1.running_var' of resnet18 is missing" in fit_error(missing)
    assert "'extra.weight' is not part of resnet18" in fit_error({**resnet18, "extra.weight": torch.ones(3)})


def test_weights_of_another_architecture_are_refused():
    assert "match only" in fit_error(timm.create_model("resnet50").state_dict())


def test_the_head_is_not_part_of_the_fit(resnet18):
    headless = {k: v for k, v in resnet18.items() if not k.startswith("fc.")}
    assert check_fit("resnet18", headless).matched_fraction == 1.0


# --- hf: a branch is resolved to its commit -------------------------------------------------


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_a_hub_branch_is_resolved_and_recorded_as_a_commit(tmp_path, hub_cache, weights):
    fill_cache(hub_cache, "someone/tiny-resnet", COMMIT, {"config.json": timm_config(), "model.safetensors": weights})
    manifest = load_manifest(write_submission(tmp_path, sha256=hashlib.sha256(weights).hexdigest(),
                                              weights="hf:someone/tiny-resnet@main"))
    verified = verify(manifest)
    assert verified.resolved_reference == f"hf:someone/tiny-resnet@{COMMIT}"
    assert verified.weights.provenance["revision"] == COMMIT


# --- https downloads ------------------------------------------------------------------------


class Files(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    redirects: ClassVar[dict[str, str]] = {}
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if self.path in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def https_server(tmp_path, monkeypatch, weights):
    """A TLS file server on 127.0.0.1 whose self-made certificate the client trusts through SSL_CERT_FILE."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path / "home"))  # an empty download cache per test
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    base = f"https://127.0.0.1:{server.server_address[1]}"
    Files.files = {"/w.safetensors": weights}
    Files.redirects = {"/to-http": f"http://127.0.0.1:{server.server_address[1]}/w.safetensors",
                       "/to-https": f"{base}/w.safetensors"}
    Files.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()


def test_an_https_url_is_downloaded_once_into_the_cache(tmp_path, https_server, weights):
    manifest = load_manifest(write_submission(tmp_path, sha256=hashlib.sha256(weights).hexdigest(),
                                              weights=f"{https_server}/to-https"))
    verified = verify(manifest)
    assert verified.weights.sha256 == manifest.sha256 and verified.resolved_reference == f"{https_server}/to-https"
    cached = download_cache() / f"{manifest.sha256}.weights"
    assert cached.read_bytes() == weights
    verify(manifest)
    assert Files.requests == ["/to-https", "/w.safetensors"]  # the second verification used the cache


@pytest.mark.parametrize("path, sha, cap, match", [
    ("/w.safetensors", None, 1000, "over the 1,000-byte limit"),
    ("/w.safetensors", "2" * 64, None, "but the manifest says 2222"),
    ("/to-http", None, None, "which is not https"),
    ("/missing", None, None, "HTTP 404"),
])
def test_refused_downloads_leave_nothing_in_the_cache(https_server, weights, path, sha, cap, match):
    sha = sha or hashlib.sha256(weights).hexdigest()
    with pytest.raises(MedbenchError, match=match):
        fetch_https(f"{https_server}{path}", sha, **({"max_bytes": cap} if cap else {}))
    assert not download_cache().is_dir() or not any(download_cache().iterdir())


def test_an_untrusted_certificate_is_refused(https_server, monkeypatch, weights):
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(MedbenchError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        fetch_https(f"{https_server}/w.safetensors", "4" * 64)


# --- the submission: init source ------------------------------------------------------------


def test_the_init_source_verifies_and_carries_the_manifest(tmp_path, weights, monkeypatch):
    import harness.inits.submission as source

    monkeypatch.setattr(source, "_MANIFESTS", {})
    path = write_submission(tmp_path, weights)
    resolved = resolve_init(f"submission:{path}", "resnet18")
    sha = hashlib.sha256(weights).hexdigest()
    assert resolved.sha256 == sha and resolved.provenance["reference"] == "submission:test-lab-resnet18"
    assert resolved.provenance["submission"]["weights_sha256"] == sha
    assert resolved.provenance["manifest"]["name"] == "Test Lab ResNet-18"
    assert source.use_manifest(path) == "submission:test-lab-resnet18"
    assert resolve_init("submission:test-lab-resnet18", "resnet18").sha256 == sha
    with pytest.raises(MedbenchError, match="holds weights for 'resnet18', not 'resnet34'"):
        resolve_init(f"submission:{path}", "resnet34")
    with pytest.raises(MedbenchError, match="no submission 'nobody-here'"):
        resolve_init("submission:nobody-here", "resnet18")
    other = write_submission(tmp_path / "other", weights)
    with pytest.raises(MedbenchError, match="two manifests claim"):
        source.use_manifest(other)


# --- pretraining images vs the suite's test images ------------------------------------------


def test_check_images_finds_exact_and_re_encoded_copies(tmp_path):
    task = get_task("synth-xray-cls")
    test_images = load_data(task).split("test").images
    folder = tmp_path / "pretraining"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(test_images[3][..., 0]).save(folder / "copy.png")
    Image.fromarray(test_images[7][..., 0]).resize((256, 256), Image.Resampling.BICUBIC).save(folder / "sub" / "big.JPG",
                                                                                              quality=90)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "noise.png")
    (folder / "not-really.png").write_bytes(b"#!/bin/sh\necho hi\n")
    result = check_images(folder, [task])
    assert result.checked == 3 and result.unreadable == [str(folder / "not-really.png")]
    found = {(Path(m.file).name, m.split, m.index, m.match) for m in result.matches}
    assert ("copy.png", "test", 3, "exact") in found
    assert any(name == "big.JPG" and index == 7 and split == "test" for name, split, index, _ in found)
    assert not any(name == "noise.png" for name, *_ in found)
    assert result.tasks_hit() == {"synth-xray-cls": 2}


def test_check_images_needs_images(tmp_path):
    with pytest.raises(MedbenchError, match="no .png/.jpg/.jpeg files"):
        check_images(tmp_path, [get_task("synth-xray-cls")])
