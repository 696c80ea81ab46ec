"""The field's evaluation protocol for a synthetic set (REFERENCE §2).

Fresh networks are trained on the synthetic images only and scored on the real test set; the
result is mean +- std over ``runs`` networks. This is a report, never a selection criterion.

Each finished network's accuracy is kept in the set's folder (``evaluations/KEY.json``, KEY a hash of
everything the number depends on: the tensors trained on, the real test set, the network, the protocol,
the seed and the device type), so a call killed or interrupted after hours of 1,000-epoch trainings
loses only the network in training, and the same command, or one asking for more runs, trains only the
networks not kept. A folder that cannot be written (a read-only set) keeps nothing, and says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import statistics
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from nas_proxy import checks
from nas_proxy.data import load_dataset
from nas_proxy.digests import json_sha256
from nas_proxy.errors import InvalidArgumentError, NasProxyError, NasProxyWarning
from nas_proxy.files import check_writable, output_lock, removed, shorten, watch, write_json
from nas_proxy.models import ConvNet, ConvNetSpec
from nas_proxy.progress import meter
from nas_proxy.protocols import EvaluateOptions, resolve_root
from nas_proxy.synthetic import EVALUATIONS, SyntheticSet, load_synthetic
from nas_proxy.training import TrainConfig, accuracy, train_model
from nas_proxy.utils import derive_seed, resolve_device


@dataclass
class EvalResult:
    path: str
    model: str
    accuracies: list[float]  # test accuracy (%) of each run
    train: dict[str, Any]
    device: str
    seconds: float
    synthetic: dict[str, Any] = field(default_factory=dict)
    kept: str | None = None  # the file the finished networks are kept in; None: the set's folder cannot be written
    reused: int = 0  # networks taken from ``kept`` (trained by an earlier call), not trained again
    not_kept: str = ""  # why nothing is kept, when ``kept`` is None

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.accuracies) if len(self.accuracies) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model": self.model,
            "mean": round(self.mean, 3),
            "std": round(self.std, 3),
            "accuracies": [round(a, 3) for a in self.accuracies],
            "runs": len(self.accuracies),
            "train": self.train,
            "device": self.device,
            "seconds": round(self.seconds, 2),
            "synthetic": self.synthetic,
            "kept": self.kept,
            "reused": self.reused,
        }


KEPT_FORMAT = "nasproxy-evaluation"
ENTRIES_DIGEST = "results_sha256"  # a kept-results record's field: the sha256 of its results (_entries_digest)


class KeptRedoneWarning(NasProxyWarning):
    """A file of kept results whose recorded identity is not the one its key was made of (edited by hand), whose
    results no longer match their sha256, or that is not whole JSON (cut short): its results are computed again, not
    taken for this computation's."""


class Kept:
    """Finished results of one computation on one set, by name: read from and written (atomically, the
    whole file each time) to ``folder/evaluations/KEY.json``, KEY a hash of ``identity`` (everything the
    results depend on). ``evaluate`` keeps its networks' accuracies so (:class:`KeptAccuracies`), ``score``
    its architectures' proxy results (``nas_proxy.search.runner``)."""

    format = KEPT_FORMAT  # the record's kind: a file of another kind is not read
    entries_field = "accuracies"  # the record's field that holds the results

    def __init__(self, folder: Path, identity: dict[str, Any], writable: bool = True) -> None:
        self.identity = identity
        self.writable = writable  # False: its results are read, and new ones held in memory only (kept_in)
        self.key = _key(identity)
        self.path = folder / EVALUATIONS / f"{self.key[:16]}.json"
        watch(folder)  # the set moved or deleted meanwhile: its evaluations/ is not made again in a new folder at its path
        self.entries: dict[str, Any] = self.read(warn=True)

    def valid(self, name: str, value: Any) -> bool:
        """Whether ``value`` is a whole result (one that is not is computed again)."""
        return True

    def refresh(self) -> None:
        """:attr:`entries` as kept now, read again once this call holds the set (:func:`one_evaluation`): what another
        call on this set finished meanwhile is reused, not computed again (``evaluate`` and ``score`` alike)."""
        self.entries = self.read()

    def read(self, warn: bool = False) -> dict[str, Any]:
        """The kept results; none from a file that is not this computation's whole record (cut short by a damaged
        disk, edited, or another computation's under the same short name): those results are computed again.
        A record whose identity is not what its key was made of (the key is found by, the identity edited
        under it) is said (``warn``: once, as the file is first read), not used: before branch probe39 its
        results were taken for this computation's."""
        if not self.path.is_file():  # nothing kept yet (a FIFO there would block the read: kept_in refused it)
            return {}
        try:
            try:
                data = checks.read_json("kept results", self.path)
            except (InvalidArgumentError, ValueError):  # cut short (a damaged disk): before drill49 trained again, no word
                if warn:
                    warnings.warn(
                        KeptRedoneWarning(f"{self.path} is unreadable (not whole JSON: cut short?); its results are computed again"),
                        stacklevel=3,
                    )
                return {}
            if not isinstance(data, dict):  # '[]', '3': before stop 50 its .get raised and the results were redone unsaid
                if warn:
                    warnings.warn(
                        KeptRedoneWarning(f"{self.path} holds JSON that is no record of results (edited?); its results are computed again"),
                        stacklevel=3,
                    )
                return {}
            if data.get("format") != self.format or data.get("key") != self.key:  # another computation's under this short name
                return {}
            if not isinstance(data.get(self.entries_field), dict):  # this computation's record without its results: edited
                if warn:  # before stop 51 (review51) a missing field raised KeyError, caught: computed again without a word
                    warnings.warn(
                        KeptRedoneWarning(f"{self.path} records no {self.entries_field} (edited?); its results are computed again"),
                        stacklevel=3,
                    )
                return {}
            if _key(data.get("identity")) != self.key:
                if warn:
                    warnings.warn(
                        KeptRedoneWarning(
                            f"{self.path} records an identity its key was not made of (edited); its results are computed again"
                        ),
                        stacklevel=3,
                    )
                return {}
            written = data.get(ENTRIES_DIGEST)  # absent from a record an earlier nasproxy wrote: each entry checked alone
            if written is not None and written != _entries_digest(data[self.entries_field]):
                if warn:
                    warnings.warn(
                        KeptRedoneWarning(
                            f"{self.path} no longer matches the sha256 written with its results (changed since); they are computed again"
                        ),
                        stacklevel=3,
                    )
                return {}
            return {n: v for n, v in data[self.entries_field].items() if self.valid(n, v)}
        except (OSError, ValueError, TypeError, AttributeError, KeyError):
            return {}

    def order(self, name: str) -> Any:
        """Where the result ``name`` comes in the file (the same results, the same bytes)."""
        return name

    def add(self, name: str, value: Any) -> None:
        merged = self.read() | self.entries | {name: value}  # with what another call on this set kept meanwhile
        self.entries = dict(sorted(merged.items(), key=lambda item: self.order(item[0])))
        if not self.writable:
            return
        record = {"format": self.format, "key": self.key, "identity": self.identity, ENTRIES_DIGEST: _entries_digest(self.entries)}
        write_json(self.path, record | {self.entries_field: self.entries})


class KeptAccuracies(Kept):
    """``evaluate``'s finished networks: ``{run index: accuracy}``."""

    def valid(self, name: str, value: Any) -> bool:
        """An entry :meth:`add` writes: a run index in plain decimal and a number. Another is an edit, trained
        again (before branch probe38: ``"00"`` was read as run 0 over the real one, and ``true`` as 1 %)."""
        plain = name.isascii() and name.isdecimal() and str(int(name)) == name
        return plain and isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 100.0

    def order(self, name: str) -> Any:
        return int(name)

    @property
    def runs(self) -> dict[int, float]:
        return {int(r): float(a) for r, a in self.entries.items()}


K = TypeVar("K", bound=Kept)


def _entries_digest(entries: Any) -> str:
    """sha256 of a kept-results file's results: a file whose numbers changed on disk (a bad block, an edit that
    still reads) no longer matches it. Before drill48, one digit of an accuracy changed was taken as kept."""
    return json_sha256(entries)


def _key(identity: Any) -> str:
    """The key of a kept-results file: the hash of everything its results depend on."""
    return json_sha256(identity)


def tensor_hash(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def kept_in(folder: Path, kind: type[K], identity: dict[str, Any]) -> tuple[K | None, str]:
    """Where the finished results of ``identity`` are kept in a set's ``folder``, or None and why not (checked
    before any training, writing nothing: a set that cannot be written, a folder or FIFO where the file goes).
    A set that cannot be written but holds a kept file that can be read gives it, not ``writable``: its results
    are used, new ones are not kept, and the why is given too (before stop 48 such a file was not read: every
    network trained again, and "not kept" said even where nothing was left to train, perm48)."""
    try:
        check_writable(folder / EVALUATIONS / "kept.json")  # a file where the folder goes is refused too
    except NasProxyError as e:
        readable = kind(folder, identity, writable=False)
        return (readable if readable.path.is_file() and os.access(readable.path, os.R_OK) else None), str(e)
    kept = kind(folder, identity)
    if os.path.lexists(kept.path) and not kept.path.is_file():
        return None, f"{kept.path} is not a regular file"
    return kept, ""


@contextlib.contextmanager
def one_evaluation(kept: Kept | None, path: Path | str, doing: str = "evaluated with this network and protocol") -> Iterator[None]:
    """One call at a time trains the networks ``kept`` keeps: it holds a lock folder beside their file
    (``evaluations/KEY.lock``; :func:`files.output_lock`), and a second call on the same set, model and protocol is
    refused in one line meanwhile. Before drill59 both read the file and trained every network not kept yet, each
    network twice. The folder is removed as the call ends, also one a call killed -9 left (output_lock removes only
    the one it made), and where the set was moved to meanwhile (fix60: the moved set kept it, empty, for good). Nothing
    is locked where nothing is kept (a set that cannot be written). ``score`` holds it too (fix61b), ``doing`` its words."""
    if kept is None or not kept.writable:
        yield
        return
    lock = kept.path.with_suffix(".lock")
    busy = f"{shorten(Path(path))} is being {doing} by another nasproxy process"
    with output_lock(lock, busy=busy, fix="wait for it to finish, then run the same command again (the networks it finishes are kept)"):
        try:
            fd: int | None = os.open(lock, os.O_RDONLY | os.O_DIRECTORY)  # the folder itself, wherever it goes
        except OSError:
            fd = None
        try:
            yield
        finally:
            _remove_lock(lock, fd)  # while still held (only when empty)


def _remove_lock(lock: Path, fd: int | None) -> None:
    """Remove the lock folder opened as ``fd`` (first at ``lock``) where it is now, when empty: at ``lock``, or where
    the set was moved to meanwhile (Linux names an open folder's path in /proc/self/fd); a folder now at ``lock`` that is
    not this one (another's, made after a move) stays."""
    if fd is None:
        with contextlib.suppress(OSError):
            lock.rmdir()
            removed(lock)
        return
    try:
        mine = os.fstat(fd)
        for where in (lock, Path(os.readlink(f"/proc/self/fd/{fd}"))):
            with contextlib.suppress(OSError):
                now = os.stat(where)
                if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                    where.rmdir()
                    removed(lock)  # its path in this command: a later call's lock there is its own (fix61b)
                    return
    except OSError:  # no /proc: where it was
        with contextlib.suppress(OSError):
            lock.rmdir()
            removed(lock)
    finally:
        os.close(fd)


def load_real_test(synthetic: SyntheticSet, data_root: str | None = None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The real test set of the dataset a synthetic set was distilled from (checked to match)."""
    d = synthetic.dataset
    size = int(d["image_size"][0])
    dataset = load_dataset(d["name"], resolve_root(d["name"], data_root, synthetic.meta.get("data_root")), image_size=size)
    dataset.check_described(d, str(synthetic.path))
    return dataset.test_x, dataset.test_y, dataset.flip


# What a training holds at once, counted so that the count is a lower bound of its peak (fix61a; before, 16 bytes a
# parameter and 4 bytes for every layer's output, identity norms and in-place activations included, were up to 1.7x the
# measured peak: depth=3,width=256 without normalisation or pooling on 32 images, 464 MB against 277, review60). From the
# second step on, the end of a forward holds every parameter (4 bytes), its gradient from the step before (train_model
# zeroes the gradients after the forward) and SGD's momentum: 12 bytes a parameter, with every tensor the forward saved
# for the backward pass (:func:`saved_per_image`). Nothing of the step's temporaries, the backward's gradients or the
# allocator's slack is counted: measured against the peak RSS of three steps, benchmarks/RESULTS.md §29.
BYTES_PER_PARAMETER = 12
BYTES_PER_ACTIVATION = 4  # float32; 2 under CUDA's bf16 autocast, where most saved tensors are bf16 (not measured yet)
BYTES_PER_INDEX = 8  # max pooling's int64 indices of its maxima, saved for the backward pass


def saved_per_image(spec: ConvNetSpec, shape: tuple[int, ...], num_classes: int, amp: bool = False) -> int:
    """Bytes a training forward of a ConvNet of ``spec`` saves for the backward pass per image of ``shape``, from its plan
    of blocks (:meth:`ConvNetSpec.blocks`), as torch's autograd saves them (tests/groundtruth/test_training_memory_perf59a.py
    compares it with what a forward saves; ``amp``: under bf16 autocast, 2 bytes a value): the image (the first conv's input); per block the conv's output where a norm
    keeps it, and the norm's (or the conv's) output that the activation keeps (ReLU and LeakyReLU in place, a sigmoid its
    result: one map either way); the pooled map (the next conv's or the classifier's input) and max pooling's indices;
    the log-softmax of the logits. Not the parameters, nor a norm's per-channel statistics (a lower bound)."""
    floats = shape[0] * shape[1] * shape[2] + num_classes
    indices = 0
    for _padding, (fh, fw), (ph, pw) in spec.blocks((shape[1], shape[2])):
        floats += spec.width * fh * fw * (1 if spec.normalization == "none" else 2)
        if spec.pooling != "none":
            floats += spec.width * ph * pw
            indices += spec.width * ph * pw if spec.pooling == "maxpooling" else 0
    return floats * (BYTES_PER_ACTIVATION // 2 if amp else BYTES_PER_ACTIVATION) + indices * BYTES_PER_INDEX


def training_memory(
    spec: ConvNetSpec, shape: tuple[int, ...], num_classes: int, batch: int, steps: int = 2, amp: bool = False
) -> tuple[int, int]:
    """(bytes, parameters): a lower bound of what a training of ``steps`` steps of a ConvNet of ``spec`` on ``batch``
    images of ``shape`` (``amp``: under bf16 autocast) holds at once: from the second step on see
    :data:`BYTES_PER_PARAMETER`; a training of one step holds the parameters with what its forward saved, then with their
    gradients and momentum (the larger of the two). The network is built on the meta device (shapes only: nothing
    allocated, nothing computed); what its forward saves is counted from its plan of blocks (:func:`saved_per_image`),
    not by a forward pass there: a meta forward's linear and normalisation layers import torch._dynamo (~1.5 CPU-s a
    command, before perf59a)."""
    with torch.device("meta"):
        net = ConvNet(shape[0], num_classes, (shape[1], shape[2]), spec)  # refuses images its blocks pool away
    params = sum(p.numel() for p in net.parameters())
    saved = batch * saved_per_image(spec, shape, num_classes, amp)
    if steps < 2:
        return max(params * BYTES_PER_ACTIVATION + saved, params * BYTES_PER_PARAMETER), params
    return params * BYTES_PER_PARAMETER + saved, params


def check_memory(
    spec: ConvNetSpec,
    shape: tuple[int, ...],
    num_classes: int,
    batch: int,
    device: torch.device,
    steps: int = 2,
    amp: bool = False,
) -> None:
    """Refuse a network whose training needs more memory than ``device`` has free now, before anything is allocated:
    before probe58 ``--model width=10000`` (3.6 billion parameters) was allocated and trained until the system ran out.
    What it needs is a lower bound (:func:`training_memory`): a training refused would not have fitted."""
    from nas_proxy.data.formats import bytes_shown, memory_available

    need, params = training_memory(spec, shape, num_classes, batch, steps, amp)
    if device.type == "cuda":
        have = torch.cuda.mem_get_info(device)[0]
    elif device.type == "cpu":
        have = memory_available()
    else:
        return  # no free-memory figure to compare with (mps)
    if need > have:
        raise InvalidArgumentError(
            f"model {spec} has {params:,} parameters: training it on {batch} images of {'x'.join(map(str, shape))} needs about "
            f"{bytes_shown(need)} of {device.type} memory, and {bytes_shown(have)} is free now; give a smaller width or depth"
        )


def evaluate(
    path: Path | str,
    runs: int = EvaluateOptions.runs,
    model: ConvNetSpec | str | None = None,
    train: TrainConfig | None = None,
    seed: int = EvaluateOptions.seed,
    device: str = EvaluateOptions.device,
    data_root: str | None = EvaluateOptions.data_root,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
    hard_labels: bool = EvaluateOptions.hard_labels,
) -> EvalResult:
    """Train ``runs`` fresh ConvNets on the synthetic set at ``path``; test accuracy mean +- std.

    ``train`` is the whole protocol, epochs included (None: :class:`TrainConfig`'s defaults, the
    1000 epochs of DC/DSA/DM). A set with soft labels trains on them unless ``hard_labels``.
    """
    cfg = train or TrainConfig()
    EvaluateOptions(runs=runs, seed=seed, train=cfg).validate()
    spec = ConvNetSpec.parse(model) if isinstance(model, str) else (model or ConvNetSpec())
    syn = load_synthetic(path)
    if hard_labels and syn.soft_labels is None:  # an option silently ignored is a run the user did not ask for
        raise InvalidArgumentError(f"--hard-labels changes nothing: {path} has no soft labels (distill --soft-labels N): drop it")
    test_x, test_y, flip = load_real_test(syn, data_root)
    dev = resolve_device(device)
    shape = tuple(syn.images.shape[1:])
    n = len(syn.images)  # a batch above them is capped, said where it was set (the rule of every batch; fix61a: refused before)
    with checks.caps_held() as caps:  # said once nothing more is refused (the memory, the lock)
        batch = checks.batch("batch_size", cfg.batch_size, n, f"images of {path}", TrainConfig.batch_size, f"each step trains on all {n}")
    check_memory(spec, shape, syn.num_classes, batch, dev, cfg.epochs * -(-n // batch), cfg.uses_amp(dev))
    targets = syn.targets(hard_labels)
    protocol = cfg.to_dict() | {"amp": cfg.uses_amp(dev)}  # what ran, not what was asked: no autocast on CPU
    identity = {
        "trained_on": tensor_hash(syn.images, targets),
        "tested_on": tensor_hash(test_x, test_y),
        "model": str(spec),
        "train": protocol,
        "flip": flip,
        "seed": seed,
        "device": dev.type,  # a GPU's numbers differ from a CPU's in their last digits: not mixed in one mean
    }
    kept, not_kept = kept_in(syn.path, KeptAccuracies, identity)
    with one_evaluation(kept, path):
        caps.say()
        if kept is not None:
            kept.refresh()
        done = kept.runs if kept is not None else {}
        reused = sum(r in done for r in range(runs))
        accs = []
        t0 = time.perf_counter()
        for r in meter(range(runs), f"evaluate {Path(path).name}", unit="net", enabled=progress):
            if r in done:
                accs.append(done[r])
                continue
            run_seed = derive_seed(seed, "evaluate", r)
            torch.manual_seed(run_seed)
            net = ConvNet(shape[0], syn.num_classes, (shape[1], shape[2]), spec).to(dev)
            train_model(net, syn.images, targets, cfg, run_seed, flip)
            accs.append(100.0 * accuracy(net, test_x, test_y, amp=cfg.amp))
            if kept is not None:
                kept.add(str(r), accs[-1])
    info = {k: syn.meta.get(k) for k in ("method", "ipc", "iterations_done", "seed")}
    info["dataset"] = syn.dataset["name"]
    info["soft_labels"] = syn.soft_labels is not None and not hard_labels  # what the networks trained on
    where = str(kept.path) if kept is not None and kept.writable else None
    ran = protocol | {"batch_size": batch}  # the batch used; the identity keeps the one asked (the kept results' key)
    return EvalResult(str(path), str(spec), accs, ran, str(dev), time.perf_counter() - t0, info, where, reused, not_kept)
