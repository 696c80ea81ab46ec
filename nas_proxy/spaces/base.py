"""The interface every search space implements, and the stable id of an architecture spec.

A *spec* is a plain JSON-able dict that says everything needed to build one network, including
``"family"``, the model family whose builder it needs. A space turns an Optuna trial into a spec
(:meth:`SearchSpace.sample`) and a spec back into the trial's params (:meth:`SearchSpace.params_of`),
so ``study.best_params`` rebuilds the best architecture and ``enqueue_trial`` seeds known ones.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from nas_proxy import checks
from nas_proxy.arch_ids import arch_id as arch_id  # re-exported: nas_proxy.spaces.arch_id
from nas_proxy.arch_ids import canonical_json
from nas_proxy.errors import SpaceError

if TYPE_CHECKING:  # torch: imported where a network is built; Optuna: by the search that samples; not to list or check a space
    import optuna
    from torch import nn

Spec = dict[str, Any]


class SearchSpace(ABC):
    """A set of architectures of one model family, sampled define-by-run from an Optuna trial.

    The search calls :meth:`sample` once per trial, then :meth:`build` to get the network it
    trains. :meth:`validate` runs on any spec that comes from outside (a file, the command line,
    a stored study); :meth:`params_of` when a known spec is enqueued or rebuilt. :meth:`describe`
    is recorded with every search result.
    """

    name: str
    family: str  # the model family every spec of this space builds, e.g. "convnet"

    @abstractmethod
    def sample(self, trial: optuna.trial.BaseTrial) -> Spec:
        """One spec, chosen only through ``trial.suggest_*`` calls (conditional parameters allowed)."""

    @abstractmethod
    def validate(self, spec: Spec) -> None:
        """Raise :class:`SpaceError` naming the offending key and its allowed values unless ``spec`` is in the space."""

    @abstractmethod
    def params_of(self, spec: Spec | str) -> dict[str, Any]:
        """The trial params that make :meth:`sample` return ``spec`` (``FixedTrial(params_of(s))`` -> ``s``)."""

    @abstractmethod
    def build(self, spec: Spec, channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
        """A freshly initialised network for ``spec`` (validated first) on images of this shape."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-able summary: name, family, parameters and their choices, and the size when finite."""

    def definition_sha256(self) -> str:
        """SHA-256 of what the space holds: :meth:`describe` less its name and description text, so
        the same choices under another name or file give the same digest, and a file edited under
        its old name another (a proxy profile records it: ``ProxyProfile.check_space``)."""
        held = {k: v for k, v in self.describe().items() if k not in ("name", "description")}
        return hashlib.sha256(canonical_json(held).encode()).hexdigest()

    def size(self) -> int | None:
        """How many distinct specs the space holds; ``None`` when infinite or unknown."""
        return None

    def specs(self, limit: int) -> list[Spec] | None:
        """Every spec of the space when it holds at most ``limit`` (None when it holds more, or when
        :meth:`sample` asks the trial for more than categorical choices). The decision tree of
        :meth:`sample` is walked depth first, so conditional parameters are enumerated too."""
        size = self.size()
        if size is None or size > limit:
            return None
        out: list[Spec] = []
        script: list[int] = []  # the choice index taken at each suggest call, in call order
        while True:
            trial = _ScriptedTrial(script)
            try:
                out.append(self.sample(trial))  # type: ignore[arg-type]  # answers the suggest calls a space makes
            except AttributeError:  # a suggest_* other than categorical: not enumerable here
                return None
            script = trial.taken
            while script and script[-1] == trial.sizes[len(script) - 1] - 1:  # the last choices exhausted: back up
                script.pop()
            if not script or len(out) > limit:
                return out if len(out) <= limit else None
            script[-1] += 1

    def parse(self, text: str) -> Spec:
        """A spec from its text form: a JSON object here; families may accept shorter forms."""
        try:
            spec = checks.loads(text)
        except json.JSONDecodeError as e:
            raise SpaceError(f"a {self.family} spec must be a JSON object, got {text!r} ({e.msg})") from None
        except (ValueError, RecursionError) as e:  # an integer too long to read, or nesting too deep
            raise SpaceError(f"a {self.family} spec must be a JSON object of plain values: {e or 'nested too deeply'}") from None
        if not isinstance(spec, dict):
            raise SpaceError(f"a {self.family} spec must be a JSON object, got {text!r}")
        return spec

    def complete(self, raw: Spec | str) -> Spec:
        """A spec given from outside (a file, the command line) in full: text is read by
        :meth:`parse` (so a family's short form works), and a missing ``"family"`` is this
        space's own (a space has one family). The result still needs :meth:`validate`."""
        spec = self.parse(raw) if isinstance(raw, str) else raw
        if isinstance(spec, dict) and "family" not in spec:
            spec = {"family": self.family, **spec}
        return spec


class _ScriptedTrial:
    """A stand-in for an Optuna trial whose categorical suggestions follow ``script`` (choice
    indices; 0 past its end), recording the index taken and the number of choices at each call."""

    def __init__(self, script: list[int]) -> None:
        self.script = script
        self.taken: list[int] = []
        self.sizes: list[int] = []

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        i = self.script[len(self.taken)] if len(self.taken) < len(self.script) else 0
        self.taken.append(i)
        self.sizes.append(len(choices))
        return choices[i]
