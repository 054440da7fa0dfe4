"""Atomic writes: a temp file left by a killed writer is cleaned up by the next write to the same path."""

import os
import subprocess
import sys

from harness.atomic import write_text_atomic


def test_a_killed_writers_temp_file_is_removed_and_a_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f".ckpt.pt.{dead.stdout.strip()}.abc123.tmp"
    orphan.write_bytes(b"")  # what SIGKILL mid-save leaves behind
    live = tmp_path / f".ckpt.pt.{os.getpid()}.def456.tmp"  # a write in progress in this process
    live.write_bytes(b"")
    other = tmp_path / ".other.pt.1.x.tmp"
    other.write_bytes(b"")
    write_text_atomic(tmp_path / "ckpt.pt", "weights")
    assert (tmp_path / "ckpt.pt").read_text() == "weights"
    assert not orphan.exists() and live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt.pt", live.name, other.name])
