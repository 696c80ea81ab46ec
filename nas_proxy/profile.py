"""Proxy profiles: the proxy protocol a calibration chose, as a small TOML file.

``nasproxy calibrate`` writes one; ``search``, ``score`` and ``correlate`` take it with
``--proxy-profile FILE``. Its ``[proxy]`` table holds :class:`ProxyConfig` fields, which replace the
defaults (flags given explicitly on the command line still win); its ``[search]`` table (format 2,
``calibrate --ladders`` writes it) names the proxy or ladder to search with, ``ladder = "..."``
(``search`` climbs it unless ``--ladder``, ``--proxy`` or a config file names one); its
``[calibration]`` table says how it was chosen and how far to trust it (held-out fidelity and
interval, or the ladder's calibration regret and saving; the data, the architectures, the seed,
the command). An example::

    format = "nasproxy-proxy-profile"
    format_version = 1

    [proxy]
    epochs = 25
    lr = 0.03
    batch_size = 64
    dsa = true

    [calibration]
    heldout_fidelity = 0.71
    heldout_interval = [0.55, 0.83]
    ...
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import stat
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas_proxy import checks
from nas_proxy.checks import read_text
from nas_proxy.errors import DataChangedError, InvalidArgumentError, NasProxyError, NasProxyWarning, NewerFormatError
from nas_proxy.files import bounded_name, output_lock, shorten, write_text
from nas_proxy.protocols import DataRef, ProxyConfig, canonical_dataset  # not trainers.synthetic_set's name of it: that imports torch

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FORMAT = "nasproxy-proxy-profile"
# the first line of every profile (the same since the first): a file cut inside its header comment, before its format
# line, is known as a profile by it (calibrate --out replaces such a file, and refuses one that is not a profile)
FIRST_LINE = "# A proxy profile written by `nasproxy calibrate`: `search`, `score` and `correlate` take it with"
FIRST_WORDS = "# A proxy profile"  # the least of FIRST_LINE a cut file must hold to be known by it
FORMAT_VERSION = 4  # 2: the optional [search] table (a ladder); 3: the [calibration] keys of VERSION_3_KEYS; 4: VERSION_4_KEYS
# [calibration] keys that a nasproxy reading formats 1 and 2 refuses as unknown (calibrate --ladders writes them since
# fix49a): a profile holding any is written as format 3, which such a nasproxy refuses as a newer one's; one without
# them keeps its older version, which it still reads (as synthetic.py writes a set without soft labels as version 1)
VERSION_3_KEYS = ("proxies", "nasproxy_version")
VERSION_3_INPUTS = ("simulation",)  # calibration.inputs keys alike
VERSION_4_KEYS = ("dataset_sha256",)  # [calibration] keys a nasproxy reading formats 1 to 3 refuses (since stop 53)

# [calibration] key -> (the Python types its value may have, what it holds)
CALIBRATION_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "metric": ((str,), "the rank agreement maximised and reported"),
    "objective": ((str,), "the exact objective of the Optuna study"),
    "cost_weight": ((float, int), "fidelity traded per doubling of proxy cost"),
    "heldout_fidelity": ((float, int), "the metric on held-out architectures (k-fold mean)"),
    "heldout_interval": ((list,), "its 95 % bootstrap interval"),
    "default_heldout_fidelity": ((float, int), "the default protocol on the same held-out architectures"),
    "gain_over_default": ((float, int), "held-out fidelity minus the default's"),
    "gain_interval": ((list,), "its 95 % paired bootstrap interval"),
    "tuned_fidelity": ((float, int), "the metric of the chosen protocol on the architectures it was chosen on"),
    "cost_ratio": ((float, int), "proxy cost of the chosen protocol / the default's (FLOPs)"),
    "folds": ((int,), "cross-validation folds"),
    "trials": ((int,), "Optuna trials per study"),
    "data": ((str,), "where the ground truth came from"),
    "architectures": ((list,), "the architecture ids"),
    "synthetic": ((str,), "the synthetic set the protocol was chosen with"),
    "synthetic_sha256": ((str,), "its tensors' SHA-256"),
    "dataset": ((str,), "the dataset of that set, or of the ground-truth table (--ladders): other data is refused"),
    "dataset_sha256": ((str,), "that data's content_sha256, pixels and labels (--ladders: the table's): another copy is refused"),
    "space": ((str,), "the search space of the architectures (name or file, as given)"),
    "space_sha256": ((str,), "SHA-256 of that space's definition (a space holding other architectures is refused)"),
    "synthetic_choices": ((list,), "the synthetic sets it chose among"),
    "seed": ((int,), "the calibration seed"),
    "device": ((str,), "where the proxies were trained"),
    "command": ((str,), "the command that wrote this profile"),
    # calibrate --ladders: the ladder chosen on the calibration architectures (nas_proxy.calibrate.ladder_choice)
    "rule": ((str,), "how the ladder was chosen"),
    "target_regret": ((float, int), "the regret bar of the rule (points)"),
    "regret": ((float, int), "the chosen ladder's regret on the calibration architectures (points)"),
    "regret_mean": ((float, int), "its mean over bootstrap resamples of them"),
    "regret_interval": ((list,), "its 95 % bootstrap interval"),
    "p_regret_ok": ((float, int), "share of resamples with regret <= the target"),
    "saving": ((float, int), "compute of training every candidate / the ladder's, projected to search_candidates"),
    "saving_interval": ((list,), "its 95 % bootstrap interval"),
    "search_candidates": ((int,), "the search size the saving is projected to"),
    "candidate_ladders": ((int,), "how many ladders were measured"),
    "proxies_measured": ((list,), "the proxies with scores"),
    "scores": ((list,), "the files the proxy scores came from"),
    "inputs": ((dict,), "SHA-256 of what the choice was computed from: truth, scores (each), split, options, simulation"),
    "ladders_sha256": ((str,), "SHA-256 of the table of every candidate written beside the profile"),
    "proxies": ((dict,), "per proxy measured: Spearman with the ground truth, its interval, seconds per architecture, one-off"),
    "nasproxy_version": ((str,), "the nasproxy that wrote this profile"),
}
# calibration.inputs: what `calibrate --ladders` run again compares to keep the profile (calibrate.ladder_choice.written);
# simulation: the SHA-256 of the code that simulates and chooses (ladder_choice.simulation_sha256), recorded since fix49a
INPUT_KEYS = ("truth", "scores", "split", "options", "simulation")
OPTIONAL_INPUTS = ("split", "simulation")  # a profile of fix48a records no simulation: read, and never kept (ladder_choice.written)
SEARCH_KEYS = {"ladder": "the ladder `search` climbs (a single proxy is PROXY:1.0,full:K)"}


@dataclass
class ProxyProfile:
    """The ``[proxy]`` values (ProxyConfig field -> value) and the ``[calibration]`` record."""

    proxy: dict[str, Any]
    calibration: dict[str, Any] = field(default_factory=dict)
    ladder: str | None = None  # [search] ladder: what `search` climbs (calibrate --ladders chose it)

    def apply(self, base: ProxyConfig, explicit: set[str] | frozenset[str] = frozenset()) -> ProxyConfig:
        """``base`` with the profile's values, except the fields in ``explicit`` (given as flags)."""
        return dataclasses.replace(base, **{k: v for k, v in self.proxy.items() if k not in explicit})

    def check_set(self, meta: dict[str, Any], synthetic: str, where: str) -> str | None:
        """This profile used with the synthetic set ``synthetic`` (``meta``: its meta.json). A set of another
        dataset than the one it was calibrated on is refused: its protocol was chosen, and its held-out
        fidelity measured, on other images. Another set of the same data is allowed (``run`` distils its own
        set, then searches with the profile) and gets the note returned; None for the set it was made with.
        Before branch probe41 either was used without a word."""
        dataset, sha = meta["dataset"]["name"], self.calibration.get("synthetic_sha256")
        self.check_dataset(dataset, f"{synthetic} is a {dataset} set", where)
        self._check_set_data(meta["dataset"].get("content_sha256"), dataset, synthetic, where)
        if sha and sha != meta.get("tensors_sha256"):
            return (
                f"{where} was calibrated on the synthetic set {self.calibration.get('synthetic', '?')} (tensors {sha[:12]}...), not on {synthetic}: "
                "its held-out fidelity was measured on that set, not on this one"
            )
        return None

    def check_sets(self, sets: list[str], where: str) -> list[str]:
        """:meth:`check_set` on each synthetic set a command uses, however it was chosen (typed, a config
        file's, the study ``correlate --study`` correlates): the notes. Before fix41b a typed one only."""
        from nas_proxy.synthetic import read_meta

        return [note for s in sets if (note := self.check_set(read_meta(Path(s)), s, where)) is not None]

    def check_dataset(self, dataset: str, subject: str, where: str) -> None:
        """Refuse data of another dataset than the one this profile was calibrated on (``subject`` says
        what is: "syn is a digits set"); a profile that records none (before branch probe41) passes."""
        made_on, synthetic = self.calibration.get("dataset"), self.calibration.get("synthetic")
        if made_on is not None and canonical_dataset(made_on) != canonical_dataset(dataset):  # fix41b: an image folder by its path
            on = (
                f"a {made_on} set ({synthetic})" if synthetic else f"{made_on} data ({self.calibration.get('data', '?')})"
            )  # --ladders: a table
            raise InvalidArgumentError(
                f"{where} was calibrated on {on}, {subject}: its protocol and "
                f"held-out fidelity are another dataset's; calibrate on {dataset} data (nasproxy calibrate), or drop --proxy-profile"
            )

    def check_digest(self, found: object, dataset: str, source: str, where: str) -> None:
        """Refuse data of the profile's dataset whose content_sha256 (``found``) is not the one it was calibrated on
        (``dataset_sha256``, recorded by ``calibrate --ladders`` since stop 53: before, a profile chosen on another copy of
        the data, its images edited since, was taken without a word), in the one wording of a data digest's refusal
        (:func:`~nas_proxy.data.base.data_changed`); ``source``: where the data was found (a set, a data root; "" none to
        name). A set's is compared in its own words (:meth:`check_set`); a search on real data checks the data it loaded
        (:func:`nas_proxy.cli.proxy_options.profile_data_check`). A profile that records none, or data whose digest is
        unknown, passes."""
        made = self.calibration.get("dataset_sha256")
        if made is None or found is None or made == found:
            return
        from nas_proxy.data.base import data_changed  # (torch: imported only to refuse)

        changed = data_changed(
            f"{where} was calibrated on",
            made,
            str(found),
            dataset,
            source,
            otherwise="calibrate again on this data (nasproxy calibrate --ladders), or drop --proxy-profile",
        )
        if changed is not None:
            raise changed

    def data_check(self, where: str) -> Callable[[DataRef, str], None]:
        """:meth:`check_digest` as the check of the real data a command loads (a :class:`~nas_proxy.protocols.DataRef` and
        its content_sha256), for ``search(check_data=)`` and ``correlate(check_data=)``: search, run and correlate with
        ``--proxy-profile`` (``where``: how the profile is named). Before stop 54 each words it by hand, and correlate not
        at all (review54: a profile calibrated on another copy of the data, exit 0)."""

        def check(data: DataRef, found: str) -> None:
            self.check_digest(found, data.dataset, data.data_root or "", where)

        return check

    def _check_set_data(self, found: object, dataset: str, synthetic: str, where: str) -> None:
        """Refuse the set ``synthetic`` distilled from data (content_sha256 ``found``, its meta.json's) other than the data
        this profile was calibrated on (``dataset_sha256``), by the two recorded digests. Before review54 it was said in
        the words of data read now (:meth:`check_digest`): "images that differ from those found now ... (its images
        changed since, or --data-root points at another copy); give the data it was made from", though no data is read
        and the set, not the data, is what the user gives. Passes where either records none."""
        made = self.calibration.get("dataset_sha256")
        if made is None or found is None or made == found:
            return
        raise DataChangedError(
            f"{where} was calibrated on other {dataset} images or labels than {synthetic} was distilled from (content_sha256 "
            f"{str(made)[:12]}... there, {str(found)[:12]}... in the set)",
            remedy="give a set distilled from the data the profile was calibrated on, calibrate again on this set's data "
            "(nasproxy calibrate --ladders), or drop --proxy-profile",
        )

    def check_space(self, space: str, where: str) -> None:
        """Refuse a search space (``space``: a name or file) that holds other architectures than the one this
        profile was calibrated on, compared by the digest of its definition (a name alone can lie: a space
        file edited since, or another file of that name); the same choices under another name pass. A profile
        that records none (before branch fix42a, or one ``calibrate --ladders`` wrote before fix43a or without ``--space``) passes."""
        from nas_proxy.spaces import get_space

        made_on, sha = self.calibration.get("space", "?"), self.calibration.get("space_sha256")
        if sha is None or sha == get_space(space).definition_sha256():
            return
        other = f"and space {space!r} holds other architectures" if made_on != space else "which holds other choices now (edited since)"
        raise InvalidArgumentError(
            f"{where} was calibrated on architectures of space {made_on!r}, {other}: its protocol and held-out fidelity "
            f"are another space's; calibrate on {space} architectures (nasproxy calibrate --space), or drop --proxy-profile"
        )

    def format_version(self) -> int:
        """The oldest format that holds this profile, the one it is written as: 4 with a key of :data:`VERSION_4_KEYS`,
        3 with one of :data:`VERSION_3_KEYS` or :data:`VERSION_3_INPUTS`, 2 with a ladder, else 1. Before fix50d a
        profile with them was written as format 2, which a nasproxy of stop 48 read and refused as 'unknown key
        calibration.proxies'."""
        if any(k in self.calibration for k in VERSION_4_KEYS):
            return 4
        inputs = self.calibration.get("inputs", {})
        if any(k in self.calibration for k in VERSION_3_KEYS) or any(k in inputs for k in VERSION_3_INPUTS):
            return 3
        return 2 if self.ladder else 1

    def to_toml(self) -> str:
        lines = [
            FIRST_LINE,
            "# --proxy-profile FILE ([proxy] replaces the defaults; explicit flags still win; `search` climbs [search] ladder",
            "# unless --ladder, --proxy or a config file names one).",
            f'format = "{FORMAT}"',
            f"format_version = {self.format_version()}",
            "",
            *(["[search]", f"ladder = {_toml_value(self.ladder)}", ""] if self.ladder else []),
            "[proxy]",
            *(f"{k} = {_toml_value(v)}" for k, v in self.proxy.items()),
            "",
            "[calibration]",
            *(f"{k} = {_toml_value(v)}" for k, v in self.calibration.items()),
        ]
        return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        if not math.isfinite(v):
            raise InvalidArgumentError(f"a proxy profile holds finite numbers only, got {v!r}")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def proxy_fields() -> dict[str, type]:
    """ProxyConfig field -> the type of its default (the type a profile value must have)."""
    default = ProxyConfig()
    return {f.name: type(getattr(default, f.name)) for f in dataclasses.fields(ProxyConfig)}


def check_proxy_values(values: dict[str, Any], where: str) -> None:
    """Known ProxyConfig fields with values of their type, which the ProxyConfig then accepts."""
    known = proxy_fields()
    for key, value in values.items():
        if key not in known:
            raise InvalidArgumentError(f"{where}: unknown key proxy.{key}; the [proxy] keys are {', '.join(known)}")
        want = known[key]
        ok = isinstance(value, bool) if want is bool else isinstance(value, want) and not isinstance(value, bool)
        if want is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise InvalidArgumentError(f"{where}: proxy.{key} must be {_type_name(want)}, got {value!r}")
    try:
        dataclasses.replace(ProxyConfig(), **values).validate()
    except NasProxyError as e:
        raise InvalidArgumentError(f"{where}: {e}") from None


def _type_name(t: type) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return names.get(t, t.__name__)


def _check_calibration(table: Any, where: str) -> None:
    if not isinstance(table, dict):
        raise InvalidArgumentError(f"{where}: [calibration] must be a table, got {table!r}")
    for key, value in table.items():
        if key not in CALIBRATION_KEYS:
            raise InvalidArgumentError(f"{where}: unknown key calibration.{key}; the [calibration] keys are {', '.join(CALIBRATION_KEYS)}")
        types = CALIBRATION_KEYS[key][0]
        if isinstance(value, bool) or not isinstance(value, types):
            raise InvalidArgumentError(f"{where}: calibration.{key} must be {_type_name(types[0])}, got {value!r}")
        for x in value if isinstance(value, list) else [value]:
            if isinstance(x, float) and not math.isfinite(x):
                raise InvalidArgumentError(f"{where}: calibration.{key} must be finite, got {value!r}")
    _check_calibration_values(table, where)


RANK = {"low": -1.0, "high": 1.0}  # a rank agreement (Spearman, Kendall, weighted tau)
POINTS = {"low": 0.0, "high": 100.0}  # a regret: accuracy points
# [calibration] numbers and the ranges a calibration can have written them in (checks.number's arguments); an
# interval's ends are in its number's range. Before fix48a a hand-edited p_regret_ok = 1.5 or seed = -1 was read.
CALIBRATION_RANGES: dict[str, dict[str, Any]] = {
    "folds": {"low": 2, "integer": True},
    "trials": {"low": 1, "integer": True},
    "seed": {"low": 0, "high": checks.SEED_MAX, "integer": True},
    "cost_weight": {"low": 0.0},
    "cost_ratio": {"low": 0.0, "low_open": True},
    "heldout_fidelity": RANK,
    "heldout_interval": RANK,
    "default_heldout_fidelity": RANK,
    "tuned_fidelity": RANK,
    "gain_over_default": {"low": -2.0, "high": 2.0},  # the difference of two rank agreements
    "gain_interval": {"low": -2.0, "high": 2.0},
    "target_regret": POINTS,
    "regret": POINTS,
    "regret_mean": POINTS,
    "regret_interval": POINTS,
    "p_regret_ok": {"low": 0.0, "high": 1.0},
    "saving": {"low": 0.0, "low_open": True},
    "saving_interval": {"low": 0.0, "low_open": True},
    "search_candidates": {"low": 1, "integer": True},
    "candidate_ladders": {"low": 1, "integer": True},
}
# calibration.proxies.NAME: key -> the range of its numbers (checks.number's arguments); a Spearman a constant proxy
# leaves undefined is left out (a profile's numbers are finite: read back, a nan is refused like any edit)
PROXY_RECORD: dict[str, dict[str, Any]] = {
    "spearman": RANK,
    "spearman_ci": RANK,
    "seconds_per_arch": {"low": 0.0},
    "one_off": {"low": 0.0},
}
TEXT_LISTS = ("architectures", "synthetic_choices", "proxies_measured", "scores")  # lists of names or paths


def _check_calibration_values(table: dict[str, Any], where: str) -> None:
    """The numbers of ``[calibration]`` in their ranges (:data:`CALIBRATION_RANGES`), intervals of two
    numbers in order, digests as nasproxy writes them, lists of names holding names."""
    try:
        for key, limits in CALIBRATION_RANGES.items():
            value = table.get(key)
            if key.endswith("_interval") and value is not None:
                if len(value) != 2 or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in value) or value[0] > value[1]:
                    raise InvalidArgumentError(f"calibration.{key} must be [low, high] with low <= high, got {value!r}")
                for x in value:
                    checks.number(f"the ends of calibration.{key}", x, **limits)
            elif value is not None:
                checks.number(f"calibration.{key}", value, **limits)
        for key in TEXT_LISTS:
            bad = [x for x in table.get(key, []) if not isinstance(x, str) or not x]
            if bad:
                raise InvalidArgumentError(f"calibration.{key} must be a list of non-empty strings, got {bad[0]!r} in it")
        checks.sha256("calibration.space_sha256", table.get("space_sha256"), "the space definition's")
        checks.sha256("calibration.ladders_sha256", table.get("ladders_sha256"), "the candidates table's")
        if table.get("synthetic_sha256") != "":  # the protocol study writes "" for a set that records none
            checks.sha256("calibration.synthetic_sha256", table.get("synthetic_sha256"), "the synthetic set's tensors'")
        if "inputs" in table:
            _check_inputs(table["inputs"])
        if "proxies" in table:
            _check_proxies(table["proxies"])
    except InvalidArgumentError as e:
        raise InvalidArgumentError(f"{where}: {e}") from None


def _check_inputs(inputs: dict[str, Any]) -> None:
    """``calibration.inputs``: known keys, each a SHA-256 (``scores``: a non-empty list of them); ``truth`` and ``options`` present."""
    unknown = sorted(set(inputs) - set(INPUT_KEYS))
    if unknown:
        raise InvalidArgumentError(f"unknown key calibration.inputs.{unknown[0]}; its keys are {', '.join(INPUT_KEYS)}")
    for key in INPUT_KEYS:
        value = inputs.get(key)
        if key == "scores":
            if not isinstance(value, list) or not value:
                raise InvalidArgumentError(f"calibration.inputs.scores must be a non-empty list of SHA-256 digests, got {value!r}")
            for x in value:
                checks.sha256("calibration.inputs.scores", x, "a scores file's", optional=False)
        else:
            whose = {
                "truth": "the ground-truth table's",
                "split": "the split file's",
                "options": "the options'",
                "simulation": "the simulation's",
            }
            checks.sha256(f"calibration.inputs.{key}", value, whose[key], optional=key in OPTIONAL_INPUTS)


def _check_proxies(proxies: dict[str, Any]) -> None:
    """``calibration.proxies``: a table per proxy name of :data:`PROXY_RECORD`'s keys, each number in its range
    (an interval of two in order)."""
    for name, record in proxies.items():
        where = f"calibration.proxies.{name}"
        if not isinstance(record, dict):
            raise InvalidArgumentError(f"{where} must be a table, got {record!r}")
        unknown = sorted(set(record) - set(PROXY_RECORD))
        if unknown:
            raise InvalidArgumentError(f"unknown key {where}.{unknown[0]}; its keys are {', '.join(PROXY_RECORD)}")
        for key, limits in PROXY_RECORD.items():
            value = record.get(key)
            if key.endswith("_ci") and value is not None:
                ok = (
                    isinstance(value, list)
                    and len(value) == 2
                    and all(isinstance(x, int | float) and not isinstance(x, bool) for x in value)
                )
                if not ok or value[0] > value[1]:
                    raise InvalidArgumentError(f"{where}.{key} must be [low, high] with low <= high, got {value!r}")
                for x in value:
                    checks.number(f"the ends of {where}.{key}", x, **limits)
            else:
                checks.number(f"{where}.{key}", value, **limits, optional=True)


def read_profile(path: Path | str) -> ProxyProfile:
    """A profile file, checked whole: one-line :class:`InvalidArgumentError` for a file that is not
    TOML, not a proxy profile, or holds an unknown key, a value of the wrong type or out of range."""
    where = f"proxy profile {path}"
    try:
        data = tomllib.loads(read_text("--proxy-profile", path, checks.PROFILE_BYTES_MAX))
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgumentError(f"{where} is not valid TOML: {e}") from None
    except RecursionError:  # nested arrays or inline tables deeper than tomllib recurses: before, an internal error
        raise checks.too_deep(where) from None
    if data.get("format") != FORMAT:
        raise InvalidArgumentError(
            f"{where} is not a nasproxy proxy profile (it lacks format = {json.dumps(FORMAT)}); write one with nasproxy calibrate"
        )
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidArgumentError(f"{where}: format_version must be an integer (1 to {FORMAT_VERSION}), got {version!r}")
    if version > FORMAT_VERSION:  # whole, only unreadable here: never replaced (calibrate refuses to write over it)
        raise NewerFormatError(
            f"{where} was written by a newer nasproxy (format_version {version}; this one reads 1 to {FORMAT_VERSION})",
            remedy="upgrade nasproxy",
        )
    if version < 1:
        raise InvalidArgumentError(f"{where}: format_version must be 1 to {FORMAT_VERSION}, got {version!r}; the file was edited")
    unknown = sorted(set(data) - {"format", "format_version", "search", "proxy", "calibration"})
    if unknown:
        raise InvalidArgumentError(
            f"{where}: unknown key {unknown[0]}; a profile holds format, format_version, [search], [proxy] and [calibration]"
        )
    ladder = _search_ladder(data.get("search", {}), where)
    proxy = data.get("proxy", {})
    if not isinstance(proxy, dict):
        raise InvalidArgumentError(f"{where}: [proxy] must be a table, got {proxy!r}")
    check_proxy_values(proxy, where)
    calibration = data.get("calibration", {})
    _check_calibration(calibration, where)
    return ProxyProfile(dict(proxy), dict(calibration), ladder)


def _search_ladder(table: Any, where: str) -> str | None:
    """``[search] ladder``, a well-formed ladder spec (its proxies are checked where the search runs), or None."""
    from nas_proxy.ladders import format_ladder, parse_ladder

    if not isinstance(table, dict):
        raise InvalidArgumentError(f"{where}: [search] must be a table, got {table!r}")
    unknown = sorted(set(table) - set(SEARCH_KEYS))
    if unknown:
        raise InvalidArgumentError(f"{where}: unknown key search.{unknown[0]}; the [search] keys are {', '.join(SEARCH_KEYS)}")
    ladder = table.get("ladder")
    if ladder is None:
        return None
    if not isinstance(ladder, str):
        raise InvalidArgumentError(f"{where}: search.ladder must be a string such as 'random-ipc10:1.0,full:3', got {ladder!r}")
    try:
        return format_ladder(parse_ladder(ladder))
    except InvalidArgumentError as e:
        raise InvalidArgumentError(f"{where}: search.{e}") from None


def lock_folder(out: Path) -> Path:
    """The folder whose lock the one writer of the profile ``out`` holds (:func:`one_writer`): hidden beside it."""
    return out.with_name(bounded_name(out.parent, f".{out.name}.writing"))


@contextlib.contextmanager
def one_writer(out: Path, fix: str = "wait for it to finish, or choose another --out") -> Iterator[None]:
    """Hold the lock of the profile ``out`` (:func:`files.output_lock` on :func:`lock_folder`) while the block
    computes and writes it: a second command writing the same profile meanwhile is refused in one line
    (:class:`~nas_proxy.files.FolderBusyError`), as a second command on any output is; run again once the first has
    ended, it finds the profile written. The folder is made empty and removed as the block ends (a kill -9
    leaves it empty; the next writer takes it and removes it). Where it cannot be made or locked (a file in its
    place, a file system without flock), the block runs unlocked with a warning. ``fix``: what the refusal says to
    do. Before fix49a two ``calibrate --ladders`` on one ``--out`` each measured every candidate (27 s), and two
    calibrations of different studies each trained for hours, and the last to end won."""
    lock = lock_folder(out)
    busy = f"--out {shorten(out)} is being written by another nasproxy process"
    with output_lock(lock, busy=busy, fix=fix) as held:
        try:
            if not held:
                warnings.warn(
                    f"--out {shorten(out)} is written unlocked: its lock folder {shorten(lock)} could not be made or locked "
                    "(a file in its place, or a file system without flock); write it with no other command meanwhile",
                    NasProxyWarning,
                    stacklevel=3,
                )
            yield
        finally:
            with contextlib.suppress(OSError):  # while still held: also the folder a killed writer left
                lock.rmdir()


def looks_like_profile(text: str) -> bool:
    """Whether ``text`` (a file's) is a proxy profile's, whole or cut short, by its structure: its first line is
    :data:`FIRST_LINE` (cut anywhere after :data:`FIRST_WORDS`: before stop 52 a profile cut inside its header comment was
    not known as one), or it is TOML whose ``format`` is :data:`FORMAT` (one written by hand, without the comment).
    Before stop 53 any text that held :data:`FORMAT` was taken for one: ``calibrate --out notes.md`` replaced a notes
    file that quoted the format's name."""
    first, newline, _ = text.partition("\n")
    if newline:
        if first.rstrip("\r") == FIRST_LINE:
            return True
    elif len(first) >= len(FIRST_WORDS) and FIRST_LINE.startswith(first):  # cut inside its first line
        return True
    try:
        return tomllib.loads(text).get("format") == FORMAT
    except tomllib.TOMLDecodeError:
        return False


def write_profile(profile: ProxyProfile, path: Path | str) -> Path:
    """Write ``profile`` atomically (a reader never sees half a file); the path written. A regular file there that holds
    these bytes already is left alone, its mtime too (fix55a: the same ``calibrate`` again after it finished rewrote it)."""
    path = Path(path)
    check_proxy_values(profile.proxy, "the profile to write")
    _check_calibration(profile.calibration, "the profile to write")
    _search_ladder({} if profile.ladder is None else {"ladder": profile.ladder}, "the profile to write")
    text = profile.to_toml()
    if (size := len(text.encode("utf-8"))) > checks.PROFILE_BYTES_MAX:  # search --proxy-profile would refuse it
        raise InvalidArgumentError(
            f"the profile to write ({size:,} bytes) is larger than the {checks.PROFILE_BYTES_MAX:,} bytes a profile is read back "
            f"with ({len(profile.calibration.get('architectures', [])):,} architectures); calibrate on fewer architectures"
        )
    if not _holds(path, text.encode("utf-8")):
        write_text(path, text)
    return path


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a regular file of exactly ``data`` (never opened otherwise: a FIFO there would block)."""
    try:
        return stat.S_ISREG((found := path.stat()).st_mode) and found.st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


__all__ = [
    "FORMAT",
    "INPUT_KEYS",
    "SEARCH_KEYS",
    "ProxyProfile",
    "check_proxy_values",
    "lock_folder",
    "looks_like_profile",
    "one_writer",
    "proxy_fields",
    "read_profile",
    "write_profile",
]
