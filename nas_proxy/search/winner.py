"""The search's winner trained on all the training data and exported for inference.

:func:`train_best` (``nasproxy train BEST --out DIR``) reads a search's ``best.json``, trains its
rank-N architecture on the whole training set (the training and validation splits together: the
choice is made, so nothing is held out to choose with) with the ground-truth protocol
(:class:`~nas_proxy.trainers.fulldata.GroundTruthConfig`, :func:`~nas_proxy.trainers.fulldata.train_network`),
scores it once on the test set, and writes into ``DIR``:

- ``model.safetensors``: the state dict (loads without unpickling code);
- ``model.pt``: TorchScript (scripted, else traced at the input shape) when the family allows and
  its outputs equal the eager network's on a batch of test images; left out, with the reason in
  ``spec.json``, otherwise;
- ``spec.json``: the family and spec, the dataset, its normalisation, input shape and classes,
  the protocol, the test accuracy, the command and versions. Written last, so a folder without it
  holds no finished model: the same command finishes it, taking whole weights of the same training
  as they are (``.training.json``, beside them until spec.json is written, records their hash and
  what the training measured) and training only what is missing or torn.

:func:`load_trained` rebuilds the network from ``spec.json`` and ``model.safetensors``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas_proxy import checks
from nas_proxy.checks import not_a_synthetic_set
from nas_proxy.configs import EmptyOutputWarning
from nas_proxy.errors import ArtifactError, InvalidArgumentError, NasProxyError, OutputConflictError, shown
from nas_proxy.files import check_writable, make_dirs, shorten, write_bytes, write_json
from nas_proxy.protocols import GroundTruthConfig, resolve_root, training_protocol
from nas_proxy.search.config import TrainBestConfig
from nas_proxy.search.trained_folder import (
    FORMAT,
    SCRIPT,
    SPEC,
    TRAINING,
    WEIGHTS,
    another_model,
    check_files_ours,
    check_not_foreign,
    damaged_spec,
    finished,
    read_record,
    what_spec,
    whole,
)
from nas_proxy.spaces import arch_id, build_model
from nas_proxy.synthetic import read_safetensors
from nas_proxy.trainers.fulldata import DataRef, RealData, train_network
from nas_proxy.training import accuracy
from nas_proxy.utils import package_version, resolve_device

BEST = "best.json"
SCORES = ("test_accuracy", "params", "flops", "train_seconds", "score_seconds", "device")  # spec.json's, measured by the training
CHECK_IMAGES = 64  # test images on which the TorchScript module must give the eager network's outputs


@dataclass(frozen=True)
class Best:
    """The architecture a ``best.json`` ranks ``rank``-th (1 = its pick), and the data its search ran on."""

    path: Path  # the best.json read
    rank: int  # 1-based
    entry: dict[str, Any]  # its row of "top": spec, arch_id, scores
    dataset: dict[str, Any]  # name, channels, image_size, num_classes of the search's data
    synthetic: str | None  # the synthetic set the search scored on (best.json written since it is recorded)

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.entry["spec"])


def beside_best(what: str, path: Path) -> InvalidArgumentError | None:
    """The error for ``path``, given as ``what`` (``BEST``, ``--archs``), where it is another file of a search (its
    journal.log, trials.csv, config.toml) whose best.json lies beside it: None for any other file. Before probe50
    ``nasproxy train studies/s/journal.log`` said "is not valid JSON: Extra data: line 2 column 1", and ``correlate
    --archs studies/s/trials.csv`` "needs a 'spec' column", neither naming the file meant."""
    best = path.parent / BEST
    if path.name == BEST or not best.is_file():
        return None
    return InvalidArgumentError(f"{what} {path} is another file of the search in {path.parent}, not its {BEST}: give {best}")


def read_best(path: Path | str, rank: int = 1) -> Best:
    """The ``rank``-th architecture of ``path`` (a ``best.json``, or a study folder holding one);
    one-line errors for a file of another tool and a rank beyond its list."""
    checks.number("--rank", rank, 1, checks.INT_MAX, integer=True)
    p = Path(path)
    if checks.status("BEST", p) is not None and p.is_dir():
        if not (p / BEST).is_file():
            raise InvalidArgumentError(
                f"{p} is a folder without a {BEST}; give a search's best.json or the folder 'nasproxy search' wrote it to"
            )
        p = p / BEST
    text = checks.read_text("BEST", p)
    try:
        doc = checks.parse_json(f"BEST {p}", text)
    except InvalidArgumentError as e:
        raise (beside_best("BEST", p) or e) from None
    top = doc.get("top") if isinstance(doc, dict) else None
    dataset = doc.get("dataset") if isinstance(doc, dict) else None
    if not isinstance(top, list) or not isinstance(dataset, dict) or not {"name", "channels", "image_size", "num_classes"} <= set(dataset):
        raise InvalidArgumentError(
            f"{p} is not a best.json written by 'nasproxy search' (no 'top' list and 'dataset'); give the one in the search's --out folder"
        )
    if not top:
        raise InvalidArgumentError(f"{p} lists no architecture (its search completed no trial); run the search further first")
    if rank > len(top):
        raise InvalidArgumentError(f"--rank {rank} is beyond the {len(top)} architectures {p} lists; give a rank from 1 to {len(top)}")
    entry = top[rank - 1]
    if not isinstance(entry, dict) or not isinstance(entry.get("spec"), dict):
        raise InvalidArgumentError(f"{p}: entry {rank} of 'top' has no spec object; it is not a best.json written by 'nasproxy search'")
    _check_consistent(p, doc, top, rank)
    synthetic = doc.get("synthetic")
    return Best(p, rank, entry, dataset, synthetic if isinstance(synthetic, str) else None)


def _check_consistent(p: Path, doc: dict[str, Any], top: list[Any], rank: int) -> None:
    """What ``nasproxy search`` writes holds together: each row's ``arch_id`` is its spec's, no architecture
    is listed twice, and ``best`` is the first row. A file edited by hand that breaks it is refused in one
    line: the training would record another architecture's search scores as this one's, or train ``top``'s
    first where the edit meant ``best``."""
    ids: dict[str, int] = {}
    for i, row in enumerate(top, 1):
        if not isinstance(row, dict) or not isinstance(row.get("spec"), dict):
            continue
        own = arch_id(row["spec"])
        claimed = row.get("arch_id", own)
        if i == rank and claimed != own:
            raise InvalidArgumentError(
                f"{p}: entry {rank} of 'top' names arch_id {shown(claimed)} but its spec is architecture {own} "
                "(edited by hand?); set its arch_id to that, or remove it, to train this spec"
            )
        if own in ids:
            raise InvalidArgumentError(
                f"{p} lists architecture {own} twice in 'top' (entries {ids[own]} and {i}), which 'nasproxy search' never "
                "writes (edited by hand?); remove one of them"
            )
        ids[own] = i
    best = doc.get("best")
    if isinstance(best, dict) and isinstance(best.get("spec"), dict) and isinstance(top[0], dict) and best["spec"] != top[0].get("spec"):
        raise InvalidArgumentError(
            f"{p}: its 'best' (architecture {arch_id(best['spec'])}) is not the first entry of its 'top', which 'nasproxy train' "
            "trains (edited by hand?); put that architecture first in 'top', or give --rank N for the N-th of 'top'"
        )


def data_of(best: Best, data_root: str | None = None) -> DataRef:
    """The real data of ``best``'s search: its dataset, image size and (``data_root`` or the one the
    synthetic set recorded) where the files are. The split does not matter: all of it is trained on."""
    recorded = None
    if data_root is None and best.synthetic is not None:
        meta = Path(best.synthetic) / "meta.json"
        try:
            recorded = checks.read_json("synthetic set", meta).get("data_root")
        except (InvalidArgumentError, ValueError, AttributeError):
            recorded = None  # the set moved: the dataset's own default places, or --data-root
    name = str(best.dataset["name"])
    return DataRef(name, data_root=resolve_root(name, data_root, recorded), image_size=int(best.dataset["image_size"][0]))


@dataclass
class TrainedModel:
    """What :func:`train_best` wrote: ``spec`` is ``spec.json``'s content."""

    out: str
    spec: dict[str, Any]
    reused: bool  # found finished in ``out`` with the same request: not trained again
    kept_weights: bool = False  # its model.safetensors, whole, of this training (a run stopped before spec.json): not trained again

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def train_best(best_path: Path | str, out: Path | str, options: TrainBestConfig | None = None, command: str = "") -> TrainedModel:
    """Train ``best_path``'s ``options.rank``-th architecture on the whole training set and export
    it into ``out`` (see the module's docstring); ``command``: the command line, recorded.

    ``out`` already holding the same finished training is returned as it is (``reused``); one
    holding another is refused."""
    o = options or TrainBestConfig()
    o.validate()
    config = training_protocol(o.protocol, o.epochs)  # no early-stopping points: nothing is held out
    rank, seed, data_root = o.rank, o.seed, o.data_root
    best = read_best(best_path, rank)
    shapes = _check_builds(best)  # of its state dict
    where = resolve_device(o.device)
    out = Path(out)
    not_a_synthetic_set("--out", out)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"--out {out} is {checks.file_kind(out)}; give a folder for {SPEC}, {WEIGHTS} and {SCRIPT}")
    for path in (out, out / SPEC, out / WEIGHTS, out / SCRIPT):  # out itself: '-' is refused
        check_writable(path)
    check_not_foreign(out)
    if (out / SPEC).exists() and finished(out) is None:  # before probe44b, replaced without a word, exit 0 (BEST itself too)
        if damaged_spec(out / SPEC):  # before drill48 called "a file of yours?", and only another --out offered
            raise OutputConflictError(
                f"--out {out} holds a trained model whose {SPEC} no longer reads (cut short or damaged); "
                f"remove {out / SPEC} and the same command trains it again, or give another --out"
            )
        raise OutputConflictError(
            f"--out {out} holds a {SPEC} that is not a trained model's ({what_spec(out / SPEC, best_path)}), "
            "which training would replace; give another --out"
        )
    data = data_of(best, data_root)
    # what makes two trainings the same (the split is not: all of it is trained on); as JSON records it
    request = {"arch_id": arch_id(best.spec), "spec": best.spec, "seed": seed, "protocol": config.to_dict(), "dataset": data.dataset}
    if data.dataset.startswith("imagefolder:"):
        request["image_size"] = data.image_size
    request = json.loads(json.dumps(request))
    done = finished(out)
    if done is not None and done.get("request") == request and not whole(out, done):
        _say_torn(out, done)
        done = None  # this training, a file of it cut short or missing (a torn write): trained and written again
    if done is not None:
        if done.get("request") == request:
            with contextlib.suppress(OSError):  # a kill between spec.json and its removal left it; a read-only folder keeps it
                (out / TRAINING).unlink(missing_ok=True)
            return TrainedModel(str(out), done, reused=True)
        raise OutputConflictError(another_model(out, done, request))
    check_files_ours(out, request, shapes)

    real = RealData(data, config, where, test=True, whole=True)
    _check_same_shape(best, real)
    n = int(real.train_x.shape[0])  # the protocol's batch capped to them, said (the rule of every batch) and recorded (fix62b)
    then = f"each step trains on all {n}"
    used = checks.batch(
        f"--protocol {o.protocol}'s batch_size",
        config.batch_size,
        n,
        "training images of the whole training set",
        GroundTruthConfig.batch_size,
        then,
    )
    assert real.test_x is not None and real.test_y is not None  # test=True
    kept = _kept_weights(out, request, best, real)
    if kept is not None:  # a run stopped after its weights (a full disk at model.pt): they are this training, whole
        model, weights, scores = kept
    else:
        trained = train_network(best.spec, seed, real, config)
        model = trained.model
        t0 = time.perf_counter()
        # in float32, as the exported weights run (the ground truth scores under bf16 autocast on CUDA)
        test_accuracy = 100.0 * accuracy(model, real.test_x, real.test_y, amp=False)
        scores = {
            "test_accuracy": test_accuracy,  # percent, on the test set, measured once, in float32
            "params": trained.params,
            "flops": trained.flops,
            "train_seconds": round(trained.train_seconds, 3),
            "score_seconds": round(time.perf_counter() - t0, 3),
            "device": str(real.device),
        }
        model = model.float().cpu().eval()
        make_dirs(out)
        weights = _state_bytes(model)
        # first: weights written are never without their record (a record without them names a hash no file has)
        write_json(out / TRAINING, {"request": request, "sha256": {"weights": hashlib.sha256(weights).hexdigest()}, **scores})
        write_bytes(out / WEIGHTS, weights)
    example = real.test_x[:CHECK_IMAGES].float().cpu()
    script, how = _torchscript(model, example)
    if script is not None:
        write_bytes(out / SCRIPT, script)
    elif (out / SCRIPT).exists():
        (out / SCRIPT).unlink()  # an earlier run's, of another network
    d = real.described
    spec = {
        "format": FORMAT,
        "family": best.spec.get("family"),
        "spec": best.spec,
        "arch_id": request["arch_id"],
        "dataset": d["name"],
        "class_names": d["class_names"],
        "num_classes": d["num_classes"],
        "input_shape": [real.channels, *real.image_size],  # (C, H, W) of one image
        "normalisation": {"mean": d["mean"], "std": d["std"]},  # x = (pixel / 255 - mean) / std per channel
        "test_accuracy": scores["test_accuracy"],  # percent, on the test set, measured once, in float32
        "test_images": int(real.test_x.shape[0]),
        "train_images": int(real.train_x.shape[0]),  # the training and validation splits together
        "test_split": d.get("test_split", "the dataset's own test set"),
        "protocol": {**config.to_dict(), **config.train_config().to_dict(), "batch_used": used},
        "seed": seed,
        "params": scores["params"],
        "flops": scores["flops"],
        "train_seconds": scores["train_seconds"],
        "score_seconds": scores["score_seconds"],
        "device": scores["device"],
        "torchscript": how,  # "scripted", "traced", or why there is no model.pt
        "files": {"weights": WEIGHTS, **({"torchscript": SCRIPT} if script is not None else {})},
        # of each file, so that the same command can tell a whole export from one cut short
        "sha256": {
            "weights": hashlib.sha256(weights).hexdigest(),
            **({"torchscript": hashlib.sha256(script).hexdigest()} if script is not None else {}),
        },
        "from": {"best": str(best.path), "rank": best.rank, "search_scores": {k: v for k, v in best.entry.items() if k != "spec"}},
        "request": request,  # what a second run compares to find this training finished
        "command": command,
        "package_version": package_version(),
        "torch_version": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(out / SPEC, spec)  # last: its presence means the folder is whole
    (out / TRAINING).unlink(missing_ok=True)  # spec.json records it now
    return TrainedModel(str(out), spec, reused=False, kept_weights=kept is not None)


def _say_torn(out: Path, spec: dict[str, Any]) -> None:
    """Warn which of ``out``'s files no longer match the sha256 its ``spec.json`` records, which are written again (the
    weights: trained again where no record of them is whole, :func:`_kept_weights`). Before drill60 a model.safetensors
    cut short was trained again and written without a word."""
    hashes, files = spec.get("sha256"), spec.get("files")
    if not isinstance(hashes, dict) or not isinstance(files, dict):
        return
    torn = [name for key, name in files.items() if key in hashes and not whole(out, {"sha256": {key: hashes[key]}, "files": {key: name}})]
    cut = [str(name) for name in torn if (out / str(name)).exists()]
    gone = [str(name) for name in torn if str(name) not in cut]
    said = (
        [f"its {' and '.join(cut)} no longer match{'es' if len(cut) == 1 else ''} the sha256 {SPEC} records (cut short or changed)"]
        if cut
        else []
    )
    said += [f"its {' and '.join(gone)} {'is' if len(gone) == 1 else 'are'} missing"] if gone else []
    if said:
        warnings.warn(EmptyOutputWarning(f"{shorten(out)} holds this training, but {'; '.join(said)}: written again"), stacklevel=3)


def _check_builds(best: Best) -> dict[str, list[int]]:
    """Refuse, before any data is loaded, a spec that cannot build a network for the searched images; the
    shape of each tensor of the network's state dict."""
    c, k, (h, w) = int(best.dataset["channels"]), int(best.dataset["num_classes"]), best.dataset["image_size"]
    try:
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            return {name: list(t.shape) for name, t in build_model(best.spec, c, k, (int(h), int(w))).state_dict().items()}
    except NasProxyError as e:  # an unknown family, a spec outside its family's rules
        raise type(e)(f"{best.path}: architecture {best.rank}: {e}") from None
    except (RuntimeError, ValueError, TypeError) as e:
        raise InvalidArgumentError(
            f"{best.path}: architecture {best.rank} cannot be built for {c}x{h}x{w} images ({' '.join(str(e).split())[:200]})"
        ) from None


def _check_same_shape(best: Best, real: RealData) -> None:
    """The data found must be the data searched on: same classes, channels and image size."""
    found = (real.channels, real.num_classes, list(real.image_size))
    wanted = (int(best.dataset["channels"]), int(best.dataset["num_classes"]), [int(v) for v in best.dataset["image_size"]])
    if found != wanted:
        raise InvalidArgumentError(
            f"the data found for {best.dataset['name']} ({found[0]} channels, {found[1]} classes, {found[2][0]}x{found[2][1]}) is not what "
            f"{best.path} was searched on ({wanted[0]} channels, {wanted[1]} classes, {wanted[2][0]}x{wanted[2][1]}); check --data-root"
        )


def _state_bytes(model: nn.Module) -> bytes:
    from safetensors.torch import save

    # contiguous copies: safetensors refuses tensors that share memory or are views
    return save({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}, metadata={"format": FORMAT})


def _kept_weights(out: Path, request: dict[str, Any], best: Best, real: RealData) -> tuple[nn.Module, bytes, dict[str, Any]] | None:
    """The model, file bytes and scores of ``out``'s ``model.safetensors`` when a record of this
    ``request`` (``.training.json``, or a ``spec.json`` whose other files are torn) gives its hash and the
    file matches it and loads into the network; None otherwise (absent, torn, another training's): then
    it is trained again."""
    for name in (TRAINING, SPEC):
        try:
            record = read_record(out / name)  # (a FIFO there: never opened; before fix62a the training waited on it)
            if record is None or record.get("request") != request:  # JSON already (train_best)
                continue
            weights = (out / WEIGHTS).read_bytes()
            if hashlib.sha256(weights).hexdigest() != record["sha256"]["weights"]:
                continue
            state = read_safetensors(out / WEIGHTS)[0]
            model = build_model(best.spec, real.channels, real.num_classes, real.image_size)
            model.load_state_dict(state)
            return model.float().cpu().eval(), weights, {k: record[k] for k in SCORES}
        except Exception:  # noqa: BLE001 - a torn file fails in json, safetensors or torch in many ways: trained again
            continue
    return None


def _torchscript(model: nn.Module, example: torch.Tensor) -> tuple[bytes | None, str]:
    """``model`` as TorchScript bytes (scripted, else traced on ``example``) and how; (None, why)
    when neither gives the eager outputs on ``example`` and on a smaller batch of it (a trace must
    not have fixed the batch size)."""
    batches = (example, example[: max(1, example.shape[0] // 4)])
    with torch.no_grad():
        expected = [model(b) for b in batches]
    reasons = []
    for how in ("scripted", "traced"):
        try:
            # torch 2.9+ marks TorchScript deprecated (FutureWarning) in favour of torch.export; it still
            # loads in C++ and Python without this package, which is why it is the export here
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                # check_trace off: torch's check traces the network a second time and compares with torch.testing, which
                # imports torch.distributed.tensor (nb201: 1.8 -> 0.5 CPU-s); the loaded module is compared below instead
                module = torch.jit.script(model) if how == "scripted" else torch.jit.trace(model, example, check_trace=False)
                buffer = io.BytesIO()
                torch.jit.save(module, buffer)
                loaded = torch.jit.load(io.BytesIO(buffer.getvalue()), map_location="cpu")
                got = [loaded(b) for b in batches]
        except Exception as e:  # noqa: BLE001 - TorchScript raises many types for code it cannot compile
            reasons.append(f"{how}: {type(e).__name__}: {' '.join(str(e).split())[:160]}")
            continue
        if all(torch.allclose(g, e, rtol=1e-5, atol=1e-5) for g, e in zip(got, expected, strict=True)):
            return buffer.getvalue(), how
        gap = max(float((g - e).abs().max()) for g, e in zip(got, expected, strict=True))
        reasons.append(f"{how}: outputs differ from the eager network's by {gap:.3g}")
    return None, "no TorchScript: " + "; ".join(reasons)


def load_trained(path: Path | str, device: str | torch.device = "cpu") -> nn.Module:
    """The network ``nasproxy train`` exported into ``path``, its weights loaded, in eval mode on
    ``device``: ready for inference on images normalised as ``spec.json``'s ``normalisation`` says."""

    folder = checks.existing_dir("trained model", path)
    spec = finished(folder)
    if spec is None:
        raise ArtifactError(
            f"{folder} holds no finished model of 'nasproxy train' (no {SPEC} of format {FORMAT}); train it with 'nasproxy train BEST --out {folder}'"
        )
    c, h, w = (int(v) for v in spec["input_shape"])
    model = build_model(spec["spec"], c, int(spec["num_classes"]), (h, w))
    try:
        state = read_safetensors(folder / spec["files"]["weights"])[0]
    except (OSError, ValueError, RuntimeError) as e:
        raise ArtifactError(f"cannot read the weights of {folder}: {' '.join(str(e).split())[:200]}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ArtifactError(f"the weights in {folder} do not fit its spec ({' '.join(str(e).split())[:200]})") from None
    return model.to(device).eval()


__all__ = ["Best", "TrainBestConfig", "TrainedModel", "data_of", "load_trained", "read_best", "train_best"]
