"""`run`, `sweep` and `submit run` share one run specification: the same option names, one builder, and the old
spellings kept as deprecated aliases."""

import click

from harness.cli import main
from harness.commands.runspec import grid_from_options


def _options(command: click.Command) -> set[str]:
    return {name for param in command.params if isinstance(param, click.Option) and not param.hidden for name in param.opts}


def test_run_sweep_and_submit_run_spell_shared_options_alike():
    run, sweep, submit_run = main.commands["run"], main.commands["sweep"], main.commands["submit"].commands["run"]
    shared = _options(run) - {"--quiet"}
    assert shared <= _options(sweep)
    assert {"--protocol", "--out", "--data-dir", "--device", "--quiet"} <= _options(submit_run) <= _options(run) | {"--suite"}


def test_the_old_spelling_is_a_deprecated_alias_for_the_same_grid(capsys):
    def grid(*args: str):
        with main.commands["sweep"].make_context("sweep", list(args)) as ctx:
            return grid_from_options({k: v for k, v in ctx.params.items() if k not in (
                "out", "launcher", "workers", "gpus", "cluster", "slurm_config", "partition", "time_limit", "wait")})

    new = grid("--init", "scratch,imagenet", "--backbone", "resnet18", "--tasks", "synth-xray-cls", "--seeds", "0")
    assert "deprecated" not in capsys.readouterr().err
    old = grid("--inits", "scratch,imagenet", "--backbones", "resnet18", "--tasks", "synth-xray-cls", "--seeds", "0")
    assert old == new and new.inits == ("scratch", "imagenet")
    err = capsys.readouterr().err
    assert "--inits is deprecated; use --init" in err and "--backbones is deprecated; use --backbone" in err
