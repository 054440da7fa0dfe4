import pytest

from harness.errors import MedbenchError, UnknownNameError
from harness.registry import Registry


def test_lookup_and_names():
    reg: Registry[int] = Registry("widget")
    reg.add("alpha", 1)
    reg.register("beta")(2)
    assert reg.get("beta") == 2 and reg.names() == ["alpha", "beta"] and "alpha" in reg


def test_duplicates_are_rejected():
    reg: Registry[int] = Registry("widget")
    reg.add("alpha", 1)
    with pytest.raises(MedbenchError, match="registered twice"):
        reg.add("alpha", 2)


def test_unknown_name_suggests_closest():
    reg: Registry[int] = Registry("widget")
    reg.add("imagenet", 1)
    reg.add("scratch", 2)
    with pytest.raises(UnknownNameError) as info:
        reg.get("imagenett")
    assert "did you mean 'imagenet'" in str(info.value)


def test_a_long_registry_names_its_listing_command_instead_of_every_entry():
    reg: Registry[int] = Registry("task", listing="medbench tasks list")
    for i in range(40):
        reg.add(f"task-{i:02d}", i)
    message = str(pytest.raises(UnknownNameError, reg.get, "tsak-17").value)
    assert "did you mean 'task-17'" in message and "40 known; `medbench tasks list` lists them" in message
    assert "task-39" not in message


def test_a_typo_in_run_is_answered_before_torch_is_imported():
    """`medbench run --tasks <typo>` must not pay for importing torch and timm before saying so."""
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from harness.cli import main; "
            "r = CliRunner().invoke(main, ['run', '--tasks', 'synth-xrya-cls']); "
            "print(r.exit_code, 'torch' in sys.modules, 'timm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.split()
    assert out == ["2", "False", "False"], out
