"""Choose a proxy or a fidelity ladder on calibration architectures (``nasproxy calibrate --ladders``).

Input: calibration architectures with their ground truth (test accuracy: it judges only), a real
training of each (its validation accuracy is the ``full`` rung, the pick; its seconds the reference
cost), and every candidate proxy's score and seconds on each (:class:`~nas_proxy.calibrate.ladder_sim.Candidates`).
A single proxy is the ladder ``PROXY:1.0,full:K`` (the proxy, then its best K trained: today's
promotion), so proxies and ladders are judged alike. Every candidate ladder is replayed on the
calibration architectures (:func:`~nas_proxy.calibrate.ladder_sim.measure`: synchronous climb, rungs
of one training run shared); its regret and its saving get percentile intervals over bootstrap
resamples of the architectures.

The rule (:data:`RULE`, fixed before any result; benchmarks/RESULTS.md §11b used it first): among
the ladders whose **bootstrap mean regret** on the calibration architectures is at most
``target_regret``, the one with the largest saving (compute against training every candidate,
projected to the search's ``candidates``: fraction rungs scale with it, count rungs and one-off
costs do not); if none qualifies, the lowest mean regret. Nothing here sees held-out architectures:
their check is ``nasproxy correlate``'s (or ``benchmarks/ladder.py``'s) afterwards.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas_proxy.calibrate import ladder_sim as sim
from nas_proxy.calibrate.config import LadderChoiceConfig
from nas_proxy.digests import file_sha256, json_sha256
from nas_proxy.errors import InvalidArgumentError, NasProxyError, NewerFormatError
from nas_proxy.ladders import FULL, format_ladder, parse_ladder
from nas_proxy.profile import INPUT_KEYS, ProxyProfile, read_profile
from nas_proxy.version import __version__

RULE = (
    "the largest saving (projected to the search's candidates) among the ladders whose bootstrap mean regret on the "
    "calibration architectures is <= the target; none: the lowest mean regret"
)
MIN_ARCHS = 5  # fewest calibration architectures a ladder choice accepts (a bootstrap of fewer says nothing)


@dataclass
class LadderChoice:
    """Every candidate measured on the calibration architectures, and the one the rule picked."""

    chosen: str  # the ladder spec
    rows: list[dict[str, Any]]  # one per candidate ladder: spec, regret, bootstrap mean and interval, saving and interval
    proxies: dict[str, dict[str, Any]]  # per proxy: Spearman with the ground truth [interval], seconds per architecture
    architectures: list[str]
    candidates: int  # the search size the saving is projected to
    target_regret: float
    seed: int = 0  # the bootstrap's
    rule: str = RULE
    given: bool = False  # the candidates were given (--ladders), not the default grid
    chosen_row: dict[str, Any] = field(default_factory=dict)


def trains(proxy: str) -> bool:
    """Whether ``proxy`` trains the network (a middle rung); the training-free scores do not."""
    from nas_proxy.proxies.zero_cost import ZERO_COST

    return proxy not in ZERO_COST.names()


def default_ladders(cands: sim.Candidates, config: LadderChoiceConfig, proxies: Sequence[str] | None = None) -> list[str]:
    """The default candidates built from the measured proxies (``proxies``: only these): every proxy
    alone (``P:1.0,full:K``) and every ladder of :func:`~nas_proxy.calibrate.ladder_sim.grid` (a
    first rung from them, up to ``middle_rungs`` middle rungs from those that train, ``full`` keeping a count)."""
    measured = [p for p in sorted(cands.fidelities) if p != FULL and (proxies is None or p in proxies)]
    return sim.grid(cands, measured, [p for p in measured if trains(p)], config.keeps, config.finals, config.middle_rungs)


def choose_ladder(cands: sim.Candidates, config: LadderChoiceConfig, ladders: Sequence[str] | None = None) -> LadderChoice:
    """Measure ``ladders`` (default: :func:`default_ladders`) on ``cands`` and pick one by :data:`RULE`."""
    from nas_proxy.correlate.metrics import bootstrap_ci, spearman  # scipy.stats: not for a profile kept (written)

    config.validate()
    if cands.n < MIN_ARCHS:
        raise InvalidArgumentError(
            f"{cands.n} calibration architectures; choosing a ladder needs at least {MIN_ARCHS}: add architectures with ground truth"
        )
    specs = list(ladders) if ladders else default_ladders(cands, config)
    if not specs:
        raise InvalidArgumentError("no candidate ladders: give proxy scores (--scores) or ladders (--ladders)")
    rungs = [parse_ladder(s, cands.fidelities) for s in specs]
    size = config.candidates or cands.n
    boot = sim.resamples(cands.n, config.n_boot, config.seed)
    no_orders = sim.orders(cands.n, 0, config.seed)
    rows = [{"spec": format_ladder(r), **sim.measure(r, cands, boot, no_orders, (size,), config.target_regret)} for r in rungs]
    pick = sim.choose(rows, lambda row: float(row["projected"][str(size)]), "mean", config.target_regret)
    truth = cands.test
    proxies = {}
    for name in sorted(cands.fidelities):
        f = cands.get(name)
        rho = spearman(f.scores, truth)
        lo, hi = bootstrap_ci(spearman, f.scores, truth, n=config.n_boot, seed=config.seed)
        proxies[name] = {"spearman": rho, "spearman_ci": [lo, hi], "seconds_per_arch": float(np.nanmean(f.seconds)), "one_off": f.one_off}
    return LadderChoice(
        chosen=pick["spec"],
        rows=rows,
        proxies=proxies,
        architectures=list(cands.ids),
        candidates=size,
        target_regret=config.target_regret,
        seed=config.seed,
        given=bool(ladders),
        chosen_row=dict(pick),
    )


def to_profile(
    choice: LadderChoice,
    cands: sim.Candidates,
    data: str,
    scores: list[str],
    command: str,
    space: tuple[str, str] | None = None,
    inputs: dict[str, Any] | None = None,
    table: str | None = None,
) -> ProxyProfile:
    """The profile ``search --proxy-profile`` climbs: ``[search] ladder`` the choice, ``[calibration]``
    how it was chosen (the rule, its regret and saving with their intervals, on which architectures), and
    ``space``: the architectures' search space and its definition's SHA-256, when known (``--space``), with
    which a search of another space is refused (:meth:`~nas_proxy.profile.ProxyProfile.check_space`).
    ``inputs`` (:func:`inputs_of`) and ``table`` (:func:`rows_csv`, written beside): what the same command
    run again compares (:func:`written`), recorded in the profile, which is written whole or not at all."""
    row, size = choice.chosen_row, str(choice.candidates)
    calibration: dict[str, Any] = {
        "rule": choice.rule,
        "target_regret": choice.target_regret,
        "regret": round(float(row["regret"]), 4),
        "regret_mean": round(float(row["boot"]["regret_mean"]), 4),
        "regret_interval": [round(float(x), 4) for x in row["boot"]["regret_ci"]],
        "p_regret_ok": round(float(row["boot"]["p_regret_ok"]), 4),
        "saving": round(float(row["projected"][size]), 2),
        "saving_interval": [round(float(x), 2) for x in row["boot"]["projected"][size]["ratio_ci"]],
        "search_candidates": choice.candidates,
        "candidate_ladders": len(choice.rows),
        "proxies_measured": sorted(cands.fidelities),
        "data": data,
        "scores": scores,
        "architectures": choice.architectures,
        "seed": choice.seed,
        "command": command,
        "proxies": {name: _finite(p) for name, p in choice.proxies.items()},
        "nasproxy_version": __version__,
    }
    if cands.data is not None:  # before stop 51 a ladders profile recorded none: a search on other data climbed it unsaid
        calibration["dataset"] = cands.data.dataset
        if cands.data.sha256:  # before stop 53 its digest was not recorded: a profile chosen on another copy passed unsaid
            calibration["dataset_sha256"] = cands.data.sha256
    if space is not None:  # before fix43a a ladders profile recorded none, and passed with any space
        calibration["space"], calibration["space_sha256"] = space
    if inputs is not None:
        calibration["inputs"] = inputs
    if table is not None:
        calibration["ladders_sha256"] = hashlib.sha256(table.encode("utf-8")).hexdigest()
    return ProxyProfile({}, calibration, choice.chosen)


def _finite(record: dict[str, Any]) -> dict[str, Any]:
    """A proxy's record (:attr:`LadderChoice.proxies`) as a profile holds it: an undefined number (the Spearman
    of a proxy that scores every architecture alike) left out: read_profile refuses a number that is not finite."""

    def defined(v: Any) -> bool:
        return all(math.isfinite(x) for x in (v if isinstance(v, list) else [v]))

    return {k: v for k, v in record.items() if defined(v)}


# the modules whose code computes a choice from its inputs; their source, and the numpy and scipy they run on, are
# its simulation's version (simulation_sha256)
SIMULATION_MODULES = (
    "nas_proxy.calibrate.config",
    "nas_proxy.calibrate.ladder_choice",
    "nas_proxy.calibrate.ladder_sim",
    "nas_proxy.correlate.metrics",
    "nas_proxy.ladders",
)


@functools.cache
def simulation_sha256() -> str:
    """The version of the ladder simulation, recorded with the inputs (``inputs.simulation``): the SHA-256 of the
    source of :data:`SIMULATION_MODULES` and of the numpy and scipy versions. A nasproxy whose simulation
    differs (an upgrade, an edit) chooses again where the same inputs would otherwise keep an old choice;
    one whose simulation is the same keeps it. Before fix49a nothing of the code was recorded."""
    import scipy

    parts: dict[str, str] = {"numpy": np.__version__, "scipy": scipy.__version__}
    for name in SIMULATION_MODULES:  # found, not imported: correlate.metrics imports scipy.stats (a kept profile needs none)
        spec = importlib.util.find_spec(name)
        source = None if spec is None else spec.origin
        assert source is not None, name  # modules of files, never namespace packages
        parts[name] = file_sha256(Path(source))
    return json_sha256(parts)


def inputs_of(truth: Path, scores: Sequence[Path], split: Path | None, options: dict[str, Any]) -> dict[str, Any] | None:
    """What a choice is computed from, as its profile records it (``[calibration] inputs``): the SHA-256 of
    the bytes of the table, of each scores file and of the split, and of ``options`` (every other option
    that changes the choice, as canonical JSON). None where a file is not a regular file that can be
    read: the command then refuses it in its own words, before anything is compared."""
    files = {"truth": [truth], "scores": list(scores), "split": [] if split is None else [split]}
    digests: dict[str, list[str]] = {}
    for key, paths in files.items():
        digests[key] = []
        for path in paths:
            try:
                if not os.path.isfile(path):  # a FIFO is not waited on, nor a folder read
                    return None
                digests[key].append(file_sha256(Path(path)))
            except OSError:
                return None
    # the scores files in any order measure the same proxies (one proxy in two is refused): sorted, so that the
    # same files in another order keep the profile (before fix49a they measured every candidate again)
    record: dict[str, Any] = {"truth": digests["truth"][0], "scores": sorted(digests["scores"])}
    if digests["split"]:
        record["split"] = digests["split"][0]
    record["options"] = json_sha256(options)
    record["simulation"] = simulation_sha256()
    return record


def written(out: Path, table: Path, inputs: dict[str, Any] | None) -> tuple[ProxyProfile | None, str]:
    """The profile at ``out`` when the same command wrote it from ``inputs`` and the table of every candidate
    beside it (``table``) is the one written with it, whole: ``(profile, "")``, nothing to compute again.
    Otherwise ``(None, why it is computed again)``, the reason empty where there is nothing there to say it
    of (no profile yet, or inputs that cannot be hashed). Before fix48a the same command measured every
    candidate again (27 s) and wrote the same bytes."""
    if inputs is None or not out.is_file():
        return None, ""
    try:
        profile = read_profile(out)
    except NewerFormatError:  # a newer nasproxy's, whole: never chosen again over (cli.calibrate._other_kind refuses it first)
        raise
    except NasProxyError as e:
        return None, f"{out} is not a profile this command can keep ({e}); choosing again"
    there = profile.calibration.get("inputs")
    if profile.ladder is None or there is None:  # a protocol study's profile: refused before (cli.calibrate._other_kind)
        return None, f"{out} records no inputs (an earlier nasproxy wrote it); choosing again"
    if there.get("simulation") is None:
        return None, f"{out} records no version of the ladder simulation (an earlier nasproxy wrote it); choosing again"
    if there["simulation"] != inputs.get("simulation"):
        was = profile.calibration.get("nasproxy_version", "?")
        return None, (
            f"{out} was computed by another ladder simulation (nasproxy {was} wrote it; this is nasproxy {__version__}, "
            "whose simulation code, numpy or scipy differ); choosing again"
        )
    changed = [k for k in INPUT_KEYS if there.get(k) != inputs.get(k)]
    if changed:
        names = {"truth": "--truth", "scores": "--scores", "split": "--split", "options": "the options"}
        return None, f"{out} was written from other inputs ({', '.join(names[k] for k in changed)} changed); choosing again"
    try:
        whole = table.is_file() and file_sha256(table) == profile.calibration.get("ladders_sha256")
    except OSError:
        whole = False
    if not whole:
        return None, f"{table}, written with {out}, is missing or changed since; choosing again"
    return profile, ""


def rows_csv(choice: LadderChoice) -> str:
    """Every candidate ladder measured, one CSV row each: regret, its bootstrap mean and interval, the
    share of resamples within the target, the saving projected to the search's size and its interval,
    candidates per rung, and whether the rule chose it."""
    size = str(choice.candidates)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "ladder",
            "chosen",
            "per_rung",
            "regret",
            "regret_mean",
            "regret_lo",
            "regret_hi",
            "p_regret_ok",
            "saving",
            "saving_lo",
            "saving_hi",
        ]
    )
    for r in choice.rows:
        b = r["boot"]
        ratio = b["projected"][size]
        w.writerow(
            [
                r["spec"],
                int(r["spec"] == choice.chosen),
                "/".join(str(x) for x in r["reached"]),
                f"{r['regret']:.4f}",
                f"{b['regret_mean']:.4f}",
                *(f"{x:.4f}" for x in b["regret_ci"]),
                f"{b['p_regret_ok']:.4f}",
                f"{r['projected'][size]:.3f}",
                *(f"{x:.3f}" for x in ratio["ratio_ci"]),
            ]
        )
    return out.getvalue()


__all__ = [
    "MIN_ARCHS",
    "RULE",
    "LadderChoice",
    "LadderChoiceConfig",
    "choose_ladder",
    "default_ladders",
    "inputs_of",
    "rows_csv",
    "simulation_sha256",
    "to_profile",
    "trains",
    "written",
]
