"""The stage registry: every module of fixproof.stages that declares ``SPEC``, in pipeline order.

Adding a stage is adding its module: the registry finds it, the task graph,
``--only``, the progress display, the reports and the evidence bundle take
it from its spec. The modules are imported on the first question asked, never
when this module is imported.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Iterable

from fixproof.stages.spec import StageSpec

PACKAGE = "fixproof.stages"


class RegistryError(Exception):
    """Stage specs that contradict each other (a programming error, found when the specs load)."""


def load(package: str = PACKAGE) -> tuple[StageSpec, ...]:
    """The specs of ``package``'s modules, sorted by ``order``; checked for consistency."""
    pkg = importlib.import_module(package)
    found: list[StageSpec] = []
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{package}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if spec is None:
            continue  # a helper module (common, advisories, gotest_json...)
        if not isinstance(spec, StageSpec):
            raise RegistryError(f"{module.__name__}.SPEC is a {type(spec).__name__}, not a StageSpec")
        found.append(spec)
    specs = tuple(sorted(found, key=lambda s: (s.order, s.name)))
    _check(specs)
    return specs


def _check(specs: tuple[StageSpec, ...]) -> None:
    seen: dict[str, StageSpec] = {}
    orders: dict[int, str] = {}
    for s in specs:
        if s.name in seen:
            raise RegistryError(f"two stages are named {s.name!r}")
        if s.order in orders:
            raise RegistryError(f"stages {orders[s.order]} and {s.name} have the same order {s.order}")
        for up in s.needs:
            if up not in seen:
                raise RegistryError(f"stage {s.name} needs {up!r}, which is no stage that comes before it")
        seen[s.name] = s
        orders[s.order] = s.name


@functools.cache
def specs() -> tuple[StageSpec, ...]:
    """Every stage's spec, in pipeline order."""
    return load()


def names() -> tuple[str, ...]:
    """The stage names in pipeline order."""
    return tuple(s.name for s in specs())


def spec(name: str) -> StageSpec:
    """The spec of the stage ``name``; KeyError when there is none."""
    for s in specs():
        if s.name == name:
            return s
    raise KeyError(name)


def closure(selected: Iterable[str]) -> list[str]:
    """The selected stages plus everything they need, in pipeline order."""
    need: set[str] = set()

    def add(name: str) -> None:
        if name not in need:
            need.add(name)
            for up in spec(name).needs:
                add(up)

    for name in selected:
        add(name)
    return [n for n in names() if n in need]


@functools.cache
def runtime_stages() -> tuple[str, ...]:
    """The stages that measure a running program, sorted by name."""
    return tuple(sorted(s.name for s in specs() if s.runtime))


@functools.cache
def runtime_evidence_keys() -> tuple[str, ...]:
    """The evidence keys of runtime checks that do not depend on the run (every runtime stage's), sorted."""
    return tuple(sorted({k for s in specs() if s.runtime for k in s.stable_evidence_keys}))
