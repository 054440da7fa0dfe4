"""docs/plugins.md, followed to the letter: its files are written from the page's code blocks and its shell
steps are run as written, in a fresh folder.

Two adjustments a sandbox needs, and nothing else: `pip install` gets `--no-deps --no-build-isolation
--target` (no network, and the shared environment is left untouched; the target folder goes on PYTHONPATH),
and `export` lines become the subprocesses' environment."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "plugins.md"
FILE_BLOCK = re.compile(r"\*\*`([^`]+)`\*\*\n```\w*\n(.*?)```", re.S)


def shell_steps(page: str) -> list[str]:
    """The lines of the page's ```bash blocks that are not files."""
    blocks = re.findall(r"(?<!\*\*\n)```bash\n(.*?)```", page, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


@pytest.mark.slow
def test_a_newcomer_adds_a_task_a_loader_plugin_and_an_init_plugin_from_the_docs_alone(tmp_path: Path):
    page = PAGE.read_text()
    files = FILE_BLOCK.findall(page)
    assert {name for name, _ in files} >= {"medbench-example/pyproject.toml", "my-tasks/example-npz.yaml",
                                           "medbench-example/medbench_example/loader.py", "make_example_files.py",
                                           "medbench-example/medbench_example/inits.py"}
    for name, text in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    site = tmp_path / "site-packages"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "PWD": str(tmp_path)}
    outputs = []
    for step in shell_steps(page):
        words = shlex.split(os.path.expandvars(step.replace("$PWD", str(tmp_path))))
        if words[0] == "export":
            key, _, value = words[1].partition("=")
            env[key] = value
            continue
        if words[:2] == ["pip", "install"]:
            words = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                     "--target", str(site), *words[2:]]
        elif words[0] == "python":
            words = [sys.executable, *words[1:]]
        elif words[0] == "medbench":
            words = [sys.executable, "-m", "harness", *words[1:]]
        done = subprocess.run(words, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{step}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        outputs.append(done.stdout)
    listed = "\n".join(outputs)
    assert re.search(r"example-npz\s+multiclass.*present", listed) and "strip-prefix:PATH" in listed
    (record,) = (tmp_path / "results" / "example-npz").glob("*seed0.json")
    text = record.read_text()
    assert '"source": "strip-prefix"' in text and '"status": "ok"' in text
