"""What an init source returns, the protocol it follows, and the `--init NAME[:ARG]` grammar.

`--init` strings parse one way everywhere: the text before the first ":" names a registered
source, the rest is that source's argument (`file:PATH`, `hf:ORG/REPO@REV`). Sources are
registered factories taking that argument, so a plugin is one entry point in `medbench.inits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch

from harness.errors import MedbenchError
from harness.registry import Registry


@dataclass(frozen=True)
class ResolvedWeights:
    """Weights in timm's key space for one architecture, plus where they came from."""

    state_dict: dict[str, torch.Tensor] | None  # None means "no weights" (scratch)
    sha256: str | None  # sha256 of the weights file's bytes
    provenance: dict[str, Any]  # JSON-ready; always has "source"
    mean: tuple[float, ...] | None = None  # normalisation the weights expect; None: caller's default
    std: tuple[float, ...] | None = None


class InitSource(Protocol):
    name: str
    description: str

    def resolve(self, backbone: str) -> ResolvedWeights: ...


InitFactory = Callable[[str | None], InitSource]
INIT_SOURCES: Registry[InitFactory] = Registry("init source", entry_point_group="medbench.inits")


def parse_init(init: str) -> tuple[str, str | None]:
    """'hf:org/repo@rev' → ('hf', 'org/repo@rev'); 'scratch' → ('scratch', None)."""
    name, colon, arg = init.partition(":")
    return name.strip(), (arg if colon else None)


def resolve_init(init: str, backbone: str, run_protocol: str | None = None) -> ResolvedWeights:
    """A source with `for_protocol(name)` (e.g. `cpmid`) is first fitted to the protocol of the run it serves."""
    name, arg = parse_init(init)
    source = INIT_SOURCES.get(name)(arg)
    if run_protocol is not None and hasattr(source, "for_protocol"):
        source = source.for_protocol(run_protocol)
    resolved = source.resolve(backbone)
    if not isinstance(resolved, ResolvedWeights):
        raise MedbenchError(
            f"init source {name!r} returned a {type(resolved).__name__}, not ResolvedWeights; fix that plugin"
        )
    return resolved


def describe_inits() -> list[tuple[str, str]]:
    """(usage such as 'file:PATH', description) for every source, plugins included."""
    rows = []
    for name in INIT_SOURCES.names():
        entry = INIT_SOURCES.get(name)
        doc = (getattr(entry, "__doc__", None) or "").strip().splitlines()
        rows.append((getattr(entry, "usage", name), getattr(entry, "description", doc[0] if doc else "")))
    return rows


def no_argument(name: str, arg: str | None) -> None:
    if arg is not None:
        raise MedbenchError(f"init source {name!r} takes no argument (got {name}:{arg}); use --init {name}")


def require_argument(name: str, arg: str | None, usage: str) -> str:
    if not arg:
        raise MedbenchError(f"init source {name!r} needs an argument; use --init {usage}")
    return arg
