"""Selection by ranking: keep the distillation checkpoint that ranks calibration architectures best.

Every ``select_every`` iterations (and at iteration 0 and the last) the current synthetic set is
handed to a :class:`Ranker`, which trains each calibration architecture on it with the proxy
protocol, scores it on the validation split and returns the Spearman correlation of those scores
with the architectures' ground truth. The best-ranking set is kept in ``selected.safetensors`` and
becomes the artifact; ``selection.json`` lists every score. Both are written before the run goes
on, so a resumed run never scores an iteration twice: the iterations it recomputes are bit-identical
to the ones already scored.

The ranker lives above this layer (``nas_proxy.calibrate.selection``: it trains proxies); the loop
only calls it.
"""

from __future__ import annotations

import math
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save
from torch import Tensor

from nas_proxy import checks
from nas_proxy.digests import json_sha256
from nas_proxy.errors import ArtifactError, InvalidArgumentError, NasProxyWarning, OutputConflictError
from nas_proxy.files import write_bytes, write_json
from nas_proxy.synthetic import read_safetensors, tensors_digest

STATE = "selection.json"  # every score so far, beside the checkpoint
SELECTED = "selected.safetensors"  # the best-ranking set so far
DIGEST = "sha256"  # selected.safetensors' metadata field (synthetic.tensors_digest of its images and iteration), and
# selection.json's field (digests.json_sha256 of its calibration and scores)


class SelectionRepairedWarning(NasProxyWarning):
    """A torn selection.json or selected.safetensors of an unfinished run, started again from what is whole."""


@dataclass
class Ranking:
    """How one synthetic set ranks the calibration architectures."""

    spearman: float  # with their ground truth; NaN when undefined (e.g. every score equal)
    scores: dict[str, float]  # arch id -> proxy score (% on the validation split)


class Ranker(ABC):
    """Scores synthetic sets on calibration architectures (``nas_proxy.calibrate.selection``).

    :meth:`check_data` and then :meth:`start` are called once per run, after the dataset is loaded and before
    anything is written; :meth:`rank` at every selection point; :meth:`describe` when ``meta.json`` is written.
    """

    def check_data(self, content_sha256: str) -> None:  # noqa: B027 - an optional hook: does nothing by default
        """Refuse the data about to be distilled (its :meth:`~nas_proxy.data.base.Dataset.content_sha256`) where the
        calibration architectures' accuracies were measured on other data."""

    @abstractmethod
    def start(self, val_x: Tensor, val_y: Tensor, flip: bool, num_classes: int, device: torch.device) -> None:
        """Take the validation split (the only data scores are computed on) and the device."""

    @abstractmethod
    def calibration(self) -> list[str]:
        """The arch ids scored, in a fixed order (valid after :meth:`start`)."""

    @abstractmethod
    def rank(self, images: Tensor, labels: Tensor) -> Ranking: ...

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The calibration file, the architectures and the protocol, as ``meta.json`` records them."""


class Selection:
    """The scores of one run so far, kept in ``out`` (``selection.json`` and ``selected.safetensors``)."""

    def __init__(self, out: Path, ranker: Ranker, every: int) -> None:
        self.out, self.ranker, self.every = out, ranker, every
        self.scored: list[dict[str, Any]] = []  # {"iteration", "spearman", "seconds", "scores"}
        self.calibration = ranker.calibration()
        self.torn: str | None = None  # why selection.json could not be read (recover() then starts its list again)
        path = out / STATE
        if path.is_file():
            try:
                state = checks.read_json("selection", path)
                scored, calibration = state["scored"], state["calibration"]
                if not isinstance(scored, list) or not all(isinstance(s, dict) and isinstance(s.get("iteration"), int) for s in scored):
                    raise ValueError("its scores are not a list of scored iterations")
                written = state.get(DIGEST)  # None: written by an earlier nasproxy, read as before
                if written is not None and written != _state_digest(calibration, scored):
                    raise ValueError("its scores no longer match the sha256 written with them")
            except (InvalidArgumentError, ValueError, KeyError, TypeError) as e:
                self.torn = str(e)
                return
            if calibration != self.calibration:
                raise OutputConflictError(
                    f"{path} scored other calibration architectures than --select-by gives now",
                    remedy="use the same file and options to --resume, or --force to start again",
                )
            self.scored = scored

    def recover(self, labels: Tensor) -> bool:
        """Start again from what is whole when ``selection.json`` or ``selected.safetensors`` is torn (a
        damaged disk, a copy cut short), keeping the distillation: an unreadable list is rebuilt from the
        kept set, scored again; a kept set that is unreadable (or not the one the list chose) drops the
        scores whose sets are gone. Says what it did in a :class:`SelectionRepairedWarning`; whether it
        repaired anything (the caller then scores the checkpoint's set if it is due)."""
        kept = self._kept()
        best = self.best()
        if self.torn is None and (best is None or (kept is not None and kept[0] == best["iteration"])):
            return False
        if self.torn is not None:
            self.scored = []
            if kept is None:
                said = "no kept set is readable either: scoring starts again from the checkpoint's iteration"
            else:
                self.score(kept[0], kept[1], labels)
                said = f"the kept set of iteration {kept[0]} was scored again; the other iterations' scores are lost"
            what = f"{self.out / STATE} is unreadable ({self.torn})"
        else:
            lost = sorted(s["iteration"] for s in self.scored)
            self.scored = []
            said = f"the scores of iterations {', '.join(map(str, lost))} are dropped (their sets are gone); scoring goes on"
            chosen = best["iteration"] if best is not None else None
            path = self.out / SELECTED
            what = f"{path} is missing or unreadable" if kept is None else f"{path} holds iteration {kept[0]}, not the chosen {chosen}"
        self.torn = None
        warnings.warn(SelectionRepairedWarning(f"{what}; {said}; the distillation is kept"), stacklevel=2)
        return True

    def _kept(self) -> tuple[int, Tensor] | None:
        """The iteration and images of ``selected.safetensors``; None when it is absent or unreadable."""
        path = self.out / SELECTED
        if not path.is_file():
            return None
        try:
            return _read_selected(path)
        except (SafetensorError, OSError, KeyError, ValueError):
            return None

    def due(self, done: int, total: int) -> bool:
        """Whether the set after ``done`` iterations is to be scored and has not been yet."""
        return (done % self.every == 0 or done == total) and all(s["iteration"] != done for s in self.scored)

    def best(self) -> dict[str, Any] | None:
        """The scored entry with the highest Spearman (the earliest on ties; NaN never wins unless alone)."""
        if not self.scored:
            return None
        return max(self.scored, key=lambda s: (_value(s["spearman"]), -s["iteration"]))

    def score(self, done: int, images: Tensor, labels: Tensor) -> dict[str, Any]:
        """Rank the set after ``done`` iterations; keep it if it is the best so far; record the score."""
        t0 = time.perf_counter()
        ranking = self.ranker.rank(images, labels)
        entry: dict[str, Any] = {
            "iteration": done,
            "spearman": None if math.isnan(ranking.spearman) else ranking.spearman,
            "seconds": round(time.perf_counter() - t0, 3),
            "scores": ranking.scores,
        }
        before = self.best()
        if before is None or _value(entry["spearman"]) > _value(before["spearman"]):
            # first: a state that names it always finds it (bytes written by us: save_file's temporary is 0600)
            tensors, metadata = {"images": images.detach().float().cpu().contiguous()}, {"iteration": str(done)}
            write_bytes(self.out / SELECTED, save(tensors, metadata={**metadata, DIGEST: tensors_digest(tensors, metadata)}))
        self.scored.append(entry)
        state = {"calibration": self.calibration, "scored": self.scored}
        write_json(self.out / STATE, {**state, DIGEST: _state_digest(self.calibration, self.scored)})
        return entry

    def selected_images(self) -> Tensor:
        """The best-ranking set, as kept when it was scored."""
        best = self.best()
        assert best is not None, "scored at least once (the last iteration)"
        path = self.out / SELECTED
        try:
            iteration, images = _read_selected(path)
        except (SafetensorError, OSError, KeyError, ValueError) as e:
            raise ArtifactError(f"{path} is unreadable ({e})", remedy="start again with --force") from None
        if iteration != best["iteration"]:
            raise ArtifactError(f"{path} holds iteration {iteration}, {STATE} chose {best['iteration']}", remedy="start again with --force")
        return images

    def describe(self) -> dict[str, Any]:
        best = self.best()
        return {
            **self.ranker.describe(),
            "every": self.every,
            "scored": [{k: s[k] for k in ("iteration", "spearman", "seconds")} for s in sorted(self.scored, key=lambda s: s["iteration"])],
            "chosen_iteration": None if best is None else best["iteration"],
            "chosen_spearman": None if best is None else best["spearman"],
            "seconds": round(sum(s["seconds"] for s in self.scored), 3),
            "state": STATE,
        }


def _read_selected(path: Path) -> tuple[int, Tensor]:
    """The iteration and images of ``selected.safetensors``; ValueError where they no longer match the sha256 written
    with them (a bad block, a write that kept the size: before review48 taken as the kept set). A file an earlier
    nasproxy wrote, without the digest, is read as before."""
    tensors, metadata = read_safetensors(path)
    written = metadata.pop(DIGEST, None)
    if written is not None and written != tensors_digest(tensors, metadata):
        raise ValueError("its images no longer match the sha256 written with them")
    return int(metadata["iteration"]), tensors["images"]


def _state_digest(calibration: Any, scored: Any) -> str:
    """The sha256 ``selection.json`` carries: of its calibration arch ids and every score, as written."""
    return json_sha256({"calibration": calibration, "scored": scored})


def _value(spearman: float | None) -> float:
    return -math.inf if spearman is None else spearman
