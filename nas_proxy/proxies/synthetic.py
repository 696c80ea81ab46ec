"""Synthetic-set proxies: train the candidate on a small set (DataDAM, DM, a random real subset;
on its soft labels when it has them) and score it on the real validation split, as ``nasproxy
search`` does."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

from nas_proxy import checks
from nas_proxy.data.base import data_changed
from nas_proxy.errors import ArtifactError, DataChangedError, InvalidArgumentError, NasProxyWarning, OutputConflictError
from nas_proxy.files import output_lock
from nas_proxy.protocols import DataRef
from nas_proxy.proxies.base import Proxy, Report, RunSetup, Scored, cache_key, register
from nas_proxy.synthetic import META, SyntheticSet, load_synthetic, one_off_seconds, proxy_name, read_meta

RANDOM = "random"  # the distillation method name of a random real subset
_RANDOM_NAME = re.compile(r"random-ipc(?P<ipc>.*)")


class RandomSubsetRedrawnWarning(NasProxyWarning):
    """A random subset in a command's folder that could not be used (torn, edited since): drawn again, the same images."""


def _readable(path: Path) -> SyntheticSet | None:
    """The whole set at ``path``, read and checked (the one its proxy then trains on: read once); None where it is not."""
    try:
        return load_synthetic(path)
    except ArtifactError:
        return None


def _other_data(path: Path, ref: DataRef) -> str | None:
    """How the data the whole set in ``path`` was drawn from differs from ``ref`` ("split_seed: 0 there, 1 now"), or None."""
    there, now = DataRef.of_synthetic(read_meta(path)).key(), ref.key()
    return "; ".join(f"{k}: {there.get(k)!r} there, {v!r} now" for k, v in now.items() if there.get(k) != v) or None


def _drawn_here(path: Path) -> str:
    """The remedy for a random subset that cannot be used or replaced: search's and correlate's, who draw it (not distill's
    ``--force``, which neither takes)."""
    return f"it is a random subset this command draws: remove {path} and run the same command again"


def subset_path(setup: RunSetup, ipc: int) -> Path:
    """Where a run's random subset of ``ipc`` images per class is drawn (its seed's)."""
    return setup.out / f"random-ipc{ipc}-seed{setup.seed}"


def _random_subset(setup: RunSetup, ipc: int, stale: str | None = None) -> str:
    """Where :func:`_subset` is."""
    return str(_subset(setup, ipc, stale).path)


def _subset(setup: RunSetup, ipc: int, stale: str | None = None) -> SyntheticSet:
    """A random real subset of ``ipc`` images per class in the run's directory (made once, resumed).

    One process builds it: it holds the folder's lock (:func:`files.output_lock`) while it makes it,
    and another that needs it meanwhile (a second ``search`` started at once on the same data, a
    search's other workers) waits for that lock, then finds the set whole and reads it. Before fix48a
    both built it, two writers of one set's files at once. A builder killed -9 releases the lock with
    its process; what it wrote is whole (every file is written whole or not at all, meta.json last),
    and the process that takes the lock next finishes it. A subset that cannot be used (torn by a copy, a file edited
    since) is a cache of this command's: drawn again (the same images, by its seed), said in one warning; before stop 49
    the command stopped on distill's remedy ('distil again', 'start again with --force'), which search and correlate lack.
    ``stale``: why the subset there, whole, is not of the data found now (its images changed since it was drawn): drawn
    again from these, said so. Returned as read to check it whole, the once its proxy reads it (stop 56: before, a
    subset was read to see it whole, then again by its proxy)."""
    from nas_proxy.distill import DistillConfig, distill

    ref = setup.data
    path = subset_path(setup, ipc)
    if stale is None and (path / "meta.json").is_file() and not (path / "checkpoint.safetensors").is_file() and (whole := _readable(path)):
        # a whole set without its checkpoint (copied so): taken as it is where it was drawn from this data (before fix50a
        # one drawn from another split was taken without a word: its images may be this split's validation images)
        if other := _other_data(path, ref):
            raise OutputConflictError(f"{path} holds a random subset of other data ({other})", remedy=_drawn_here(path))
        return whole
    # otherwise distill(resume=True) below, under the lock: it checks the checkpoint was made with this config and
    # returns the finished set unchanged (a search's other workers, the same command again), or finishes a torn one
    cfg = DistillConfig(
        dataset=ref.dataset,
        data_root=ref.data_root,
        ipc=ipc,
        method=RANDOM,
        seed=setup.seed,
        split_seed=ref.split_seed,
        val_fraction=ref.val_fraction,
        image_size=ref.image_size,
        device="cpu",
    )

    def build() -> SyntheticSet:
        if stale is not None:
            if (whole := _readable(path)) and whole.meta["dataset"].get("content_sha256") == setup.content_sha256():
                return whole  # drawn again from these data by another process (a search's other worker) meanwhile
            warnings.warn(RandomSubsetRedrawnWarning(f"random subset {path} could not be used ({stale}); it is drawn again"), stacklevel=3)
            distill(cfg, path, force=True, progress=False)
            return load_synthetic(path)
        try:
            distill(cfg, path, resume=(path / "checkpoint.safetensors").is_file(), progress=False)
            return load_synthetic(path)
        except (ArtifactError, OutputConflictError) as e:  # torn or edited: a cache of this command's, drawn again
            if isinstance(e, OutputConflictError) and _readable(path):  # a whole set of other options: not replaced unasked
                # with the remedy of the command that drew it: distill's (--force, before fix50a) is not search's nor correlate's
                raise e.with_remedy(_drawn_here(path)) from e
            # the cause without distill's remedy (--force, distil again): what it would do is done here
            warnings.warn(
                RandomSubsetRedrawnWarning(f"random subset {path} could not be used ({e.cause}); it is drawn again"), stacklevel=2
            )
            distill(cfg, path, force=True, progress=False)
        return load_synthetic(path)

    for _ in range(3):  # again where the builder waited for failed before writing, and removed the folder it made
        with output_lock(path, wait=True) as held:
            if held or path.is_dir():  # unlocked where the folder cannot be locked (no flock): built as before
                return build()
    return build()  # the folder cannot be made: distill says why in one line


@register("synthetic")
class SyntheticSetProxy(Proxy):
    """Accuracy on the real validation split after training on one synthetic set."""

    order = 0
    trains = True
    reports = True  # the validation accuracy every report_every epochs: a search can prune it
    pattern = "random-ipcN"

    def __init__(
        self,
        setup: RunSetup,
        name: str,
        family: str,
        path: str | None,
        ipc: int,
        from_search: bool = False,
        soft: bool = False,
        has_soft_labels: bool = False,
        loaded: SyntheticSet | None = None,
    ) -> None:
        super().__init__(setup, name, family)
        self.path = path  # None: a random subset, made by prepare()
        self.ipc = ipc
        self.soft = soft  # trains on the set's soft labels
        self.has_soft_labels = has_soft_labels  # the set holds soft labels (trained on or not, as --hard-labels says)
        self.from_search = from_search  # the set a search scored: its scores can be reused
        self.sha256 = ""
        self.real_data = path is None  # a random subset is made from setup.data's training split
        self._context: Any = None
        self._set = loaded  # the set at ``path``, read and checked once (its offer's), for check, prepare and ready

    @classmethod
    def offer(cls, setup: RunSetup) -> list[Proxy]:
        sets = [load_synthetic(p) for p in setup.synthetic]
        metas = [s.meta for s in sets]
        hard = setup.training.hard_labels
        out: list[Proxy] = []
        names: set[str] = set()
        for i, (path, meta) in enumerate(zip(setup.synthetic, metas, strict=True)):
            name = base = proxy_name(meta, hard)  # datadam-ipc10, random-ipc10-soft (trained on its soft labels)
            n = 2
            while name in names:  # the same method and size twice: datadam-ipc10, datadam-ipc10-2
                name, n = f"{base}-{n}", n + 1
            names.add(name)
            held = "soft_labels" in meta
            out.append(
                cls(
                    setup,
                    name,
                    str(meta["method"]),
                    path,
                    int(meta["ipc"]),
                    from_search=i == 0,
                    soft=held and not hard,
                    has_soft_labels=held,
                    loaded=sets[i],
                )
            )
        ipc = int(metas[0]["ipc"]) if metas else 0
        given = {proxy_name(m, hard) for m in metas}  # a soft-labelled random subset is not the random subset
        if setup.random_subset and metas and f"{RANDOM}-ipc{ipc}" not in given:
            out.append(cls(setup, f"{RANDOM}-ipc{ipc}", RANDOM, None, ipc))
        return out

    @classmethod
    def named(cls, setup: RunSetup, token: str) -> Proxy | None:
        match = _RANDOM_NAME.fullmatch(token)
        if match is None:
            return None
        try:  # plain ASCII decimal, as every number typed: not ² (int() fails on it) nor ١ (int() reads it as 1)
            ipc = checks.parse_int(match["ipc"])
        except ValueError:
            ipc = 0
        if ipc < 1:
            raise InvalidArgumentError(
                f"random-ipcN needs N >= 1 real images per class, N in plain digits, got {token!r}; write e.g. random-ipc10"
            )
        return cls(setup, f"{RANDOM}-ipc{ipc}", RANDOM, None, ipc)

    def check(self) -> None:
        """A given set against the data found now (made from other images: refused, as its first score would be); a
        random subset's ipc against the data's smallest class, in distill's own words (distill refuses it too, but
        only as the subset is drawn)."""
        from nas_proxy.data import load_dataset
        from nas_proxy.distill.config import check_ipc
        from nas_proxy.trainers.synthetic_set import data_of

        ref = self.setup.data
        if self.path is not None:
            data_of(self._loaded(), ref.data_root)
            return
        dataset = load_dataset(ref.dataset, ref.data_root, image_size=ref.image_size)
        check_ipc(self.ipc, dataset.smallest_class(ref.split_seed, ref.val_fraction), dataset.name)

    def prepare(self) -> None:
        if self.path is None:
            there = subset_path(self.setup, self.ipc)
            self.path = str(there)  # a subset there is asked first, in the words of a subset ("it was drawn from"): resumed,
            stale = self._drawn_from_other_images() if (there / META).is_file() else None  # distill would refuse its checkpoint
            self._set = _subset(self.setup, self.ipc, stale=stale)  # read once, as drawn or found whole (stop 56)
            self.path = str(self._set.path)
            if stale is None and (stale := self._drawn_from_other_images()):
                self._set = _subset(self.setup, self.ipc, stale=stale)
                self.path = str(self._set.path)
        meta = self._loaded().meta
        self.one_off_seconds = one_off_seconds(meta, self.setup.training.hard_labels)  # the teachers' too when their labels train
        self.sha256 = str(meta["tensors_sha256"])

    def _loaded(self) -> SyntheticSet:
        """The set at ``path``, read and checked once (:func:`~nas_proxy.synthetic.load_synthetic`)."""
        assert self.path is not None, "prepare() first"
        if self._set is None or self._set.path != Path(self.path):
            self._set = load_synthetic(self.path)
        return self._set

    def _drawn_from_other_images(self) -> str | None:
        """Why the random subset this command drew is not of the data found now (its images changed since), or None.
        Asked as it is prepared, before its digest keys a score cache: before review51 only :meth:`ready` found it, at the
        first score, and the scores made on the subset drawn again were kept under the old subset's key (scored again by
        the next run)."""
        assert self.path is not None
        ref = self.setup.data
        try:
            meta = read_meta(Path(self.path))
        except ArtifactError:  # torn: drawn again as such (_random_subset)
            return None
        changed = data_changed(  # in the words of every content digest comparison; no remedy: it is drawn again
            "it was drawn from",
            meta["dataset"].get("content_sha256"),  # absent from sets made before fix50e: None
            self.setup.content_sha256(),
            ref.dataset,
            str(ref.data_root or ""),
        )
        return None if changed is None else changed.cause

    def ready(self) -> None:
        from nas_proxy.trainers.synthetic_set import ProxyContext

        if self._context is None:  # the set and its real data, checked against each other (Dataset.check_described)
            assert self.path is not None, "prepare() first"
            s = self.setup
            try:
                self._context = ProxyContext.load(self._loaded(), s.device, s.training, s.data.data_root)
            except DataChangedError as e:  # the data's files changed since this command drew its subset: a cache of its
                if not self.real_data:  # own, drawn again (before stop 50 refused with 'distill again', fix50e); a set given
                    raise  # to the command is the user's work: refused
                self._set = _subset(s, self.ipc, stale=e.cause)
                self.path = str(self._set.path)
                self.prepare()
                self._context = ProxyContext.load(self._loaded(), s.device, s.training, s.data.data_root)

    def cache_key(self) -> str:
        return f"proxy-{cache_key(self.sha256, self.setup.training.to_dict(), self.setup.seed)}"

    def known(self) -> dict[str, Scored]:
        if not self.from_search:
            return {}
        found = {
            aid: Scored(float(value), math.nan if seconds is None else float(seconds))
            for aid, (sha, value, seconds) in self.setup.searched.items()
            if value is not None and sha == self.sha256
        }
        if found:  # the set checked against the data found now, as a score of it is: its search's scores are stored as
            self.ready()  # scores of these data (review51: before, with every architecture known, a set of images
            # changed since was never checked, and correlate --study mixed its old scores with a ground truth of the new)
        return found

    def score(self, spec: dict[str, Any], arch_id: str, report: Report | None = None) -> Scored:
        s = self.setup
        self.ready()
        got = self._context.score(s.space, spec, s.seed, report)
        seeds = got.seed_attrs()  # seed_scores, seed_std with seeds K > 1
        details = {  # scalars only: the dashboard lists, sorts and plots them (any other it prints as clipped JSON)
            **{f"seconds_{k}": v for k, v in got.seconds.items() if k != "total"},  # the total is the trial's proxy_seconds
            **{f"val_acc_epoch_{e:g}": round(a, 3) for e, a in got.curve},  # the curve (also the intermediate values)
            **{f"seed_score_{i}": a for i, a in enumerate(seeds.get("seed_scores", []))},
            **{k: v for k, v in seeds.items() if k != "seed_scores"},
            "synthetic_sha256": self.sha256,
            "batch_size": self._context.batch_size,  # the batch and report images used: capped to the set's and split's
            "report_images": self._context.report_images,
        }
        return Scored(float(got.accuracy), float(got.seconds["total"]), tuple(got.curve), details)

    def facts(self) -> dict[str, Any]:
        return {"synthetic": self.path, "tensors_sha256": self.sha256, "batch_used": self.batch_used()}

    def batch_used(self) -> int | None:
        """The batch this set's trainings step with: the one its context capped to the set (fix61a's rule, said there),
        or, where no training ran here (every score a search's), the same cap of the set read; None before prepare."""
        if self._context is not None:
            return int(self._context.batch_size)
        if self.path is None:
            return None
        return min(self.setup.training.batch_size, int(self._loaded().images.shape[0]))

    def describe(self) -> str:
        t = self.setup.training
        where = f"`{self.path}`" if self.path else "made in the output directory"
        kind = "a random real subset" if self.family == RANDOM else f"the {self.family} synthetic set"
        batch = t.batch_size if self._context is None else self._context.batch_size  # the one used, once the set is read
        if self.soft:
            kind += " with its teachers' soft labels"
        return (
            f"trained {t.epochs} epochs on {kind} of {self.ipc} images per class ({where}; lr {t.lr}, batch {batch}, "
            f"DSA {'on' if t.dsa else 'off'}), seed {self.setup.seed}, then scored on the real validation split"
        )
