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
