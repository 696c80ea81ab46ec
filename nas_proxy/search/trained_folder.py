"""What a trained model's folder (``nasproxy train --out DIR``) holds: its files' names, whether its
``spec.json`` is a finished export and its files whole, and whether the files a training would replace
there are that training's own (:mod:`nas_proxy.search.winner` writes them; a file of another project,
network or training is refused, never replaced)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nas_proxy import checks
from nas_proxy.digests import file_sha256
from nas_proxy.errors import InvalidArgumentError, OutputConflictError
from nas_proxy.files import PROBE, temporary_of
from nas_proxy.synthetic import safetensors_header

SPEC = "spec.json"
WEIGHTS = "model.safetensors"
SCRIPT = "model.pt"
FORMAT = "nasproxy-trained-model"  # spec.json's "format": what load_trained accepts
# written beside model.safetensors, removed once spec.json is: the request, the weights' hash and what the
# training measured, so that a run stopped between them (a full disk at model.pt) keeps the weights
TRAINING = ".training.json"


def same_file(path: Path, other: Path | str) -> bool:
    """Whether ``path`` and ``other`` are one file."""
    try:
        return path.samefile(other)
    except OSError:
        return False


def damaged_spec(path: Path) -> bool:
    """Whether ``path`` begins as a ``spec.json`` that ``nasproxy train`` writes (``{"format": FORMAT``) but does not read
    as a JSON object: its own file cut short or damaged (a bad block), not a file of the user's."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return read_record(path) is None and b"".join(head.split()).startswith(f'{{"format":"{FORMAT}"'.encode())


def what_spec(path: Path, best_path: Path | str) -> str:
    """What a ``spec.json`` that is not a trained model's is, in a few words, for the refusal."""
    if same_file(path, best_path):
        return "the BEST given"
    doc = read_record(path) or {}
    kind = doc.get("format")
    if isinstance(kind, str) and kind.startswith("nasproxy"):  # another of this project's files, named spec.json
        version = doc.get("package_version")
        return f"a nasproxy file of format {kind!r}{f', written by nasproxy {version}' if isinstance(version, str) else ''}, not {FORMAT!r}"
    return "a file of yours?"


def another_model(out: Path, done: dict[str, Any], request: dict[str, Any]) -> str:
    """The refusal of ``out``'s finished model of another request: what differs, and, where only the
    protocol's record does, by fields one side lacks (an earlier nasproxy recorded its protocol with
    other fields), that it is this architecture, seed and protocol from an older version, which loads
    as it is."""
    there = _object(done.get("request"))
    differ = sorted(k for k in set(there) | set(request) if there.get(k) != request.get(k))
    written = f"nasproxy {done['package_version']}, {done.get('created')}" if "package_version" in done else ""  # recorded since 17c7d32
    fields = _other_version(there, request)
    if fields:
        return (
            f"--out {out} holds this architecture ({done.get('arch_id')}), seed and protocol trained by an earlier nasproxy ({written or 'its version not recorded'}), "
            f"whose record of the protocol has other fields than this version's ({', '.join(fields)}), so it is not taken as this training; "
            "it loads as it is (nasproxy.load_trained); to train it with this version, give another --out, or remove it"
        )
    differs = f"; its request differs in {', '.join(differ)}" if there else ""
    return (
        f"--out {out} holds another trained model ({done.get('arch_id')}, {_object(done.get('protocol')).get('epochs')} epochs, "
        f"seed {done.get('seed')}{differs}{'; ' + written if written else ''}); give another --out, or remove it"
    )


def _other_version(there: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """The protocol fields by which request ``there`` differs from ``request`` where it is the same training recorded
    by another nasproxy version: the same in every other key, and its protocol differing only by fields one side
    lacks (none that both hold with other values); else an empty list."""
    differ = [k for k in set(there) | set(request) if there.get(k) != request.get(k)]
    protocol, ours = _object(there.get("protocol")), _object(request.get("protocol"))
    fields = sorted(k for k in set(protocol) | set(ours) if protocol.get(k) != ours.get(k))
    return fields if differ == ["protocol"] and not set(fields) & set(protocol) & set(ours) else []


def check_files_ours(out: Path, request: dict[str, Any], shapes: dict[str, list[int]]) -> None:
    """Refuse a ``model.safetensors`` or ``model.pt`` in ``out`` that training would replace but that is not
    this training's: ours are those a record in ``out`` (``spec.json``, or ``.training.json``, written before
    the weights) gives this ``request``, or, with no record at all (a ``spec.json`` removed by hand), weights
    whose header says ``nasproxy train`` wrote them for this network's tensors (``shapes``), and the ``model.pt`` beside
    them. Before fix45b, another project's model or one of another network there was replaced, exit 0."""
    present = [name for name in (WEIGHTS, SCRIPT) if os.path.lexists(out / name)]
    if not present:
        return
    records = [doc for doc in (finished(out), read_record(out / TRAINING)) if doc is not None]
    if any(doc.get("request") == request for doc in records):
        return
    other = next((doc for doc in records if isinstance(doc.get("request"), dict)), None)
    if other is not None and _other_version(other["request"], request):
        return  # this training, stopped by an earlier nasproxy before its spec.json: the same command trains it again (review45)
    if other is not None:  # .training.json of another training stopped before its spec.json
        r = other["request"]
        protocol = _object(r.get("protocol"))
        raise OutputConflictError(
            f"--out {out} holds {present[0]} of another training stopped before its {SPEC} ({r.get('arch_id')}, {protocol.get('epochs')} "
            f"epochs, seed {r.get('seed')}: {TRAINING}); run that training's command to finish it, or give another --out"
        )
    if os.path.lexists(out / TRAINING):  # our own record, torn or emptied: the files beside it are a run of ours, trained again
        return
    if os.path.lexists(out / WEIGHTS) and _weights_fit(out / WEIGHTS, shapes):
        return
    raise OutputConflictError(
        f"--out {out} holds a {present[0]} that is not this training's (no {SPEC} of it, and "
        f"{'not weights nasproxy train wrote for this network' if os.path.lexists(out / WEIGHTS) else f'no {WEIGHTS} of it beside'}: "
        "a file of yours?), which training would replace; give another --out, or remove it"
    )


OWN = (SPEC, WEIGHTS, SCRIPT, TRAINING)  # the files a training writes in its folder


def check_not_foreign(out: Path) -> None:
    """Refuse a folder ``out`` that holds entries but no file of a training (nor a temporary one a killed training left):
    another tool's or the user's folder, where the model's files would be written among unrelated ones (probe59:
    ``train BEST --out spaces`` wrote model.pt, model.safetensors and spec.json beside the space files, exit 0), as
    ``distill`` refuses a folder that holds no run of its own."""
    try:
        # (a writability probe a kill -9 left, where the file system has no O_TMPFILE, is nasproxy's: review60)
        names = sorted(entry.name for entry in os.scandir(out) if not entry.name.startswith(PROBE))
    except (FileNotFoundError, NotADirectoryError):
        return
    if names and not any(name in OWN or any(temporary_of(name, own) for own in OWN) for name in names):
        raise OutputConflictError(
            f"--out {out} is not empty ({len(names):,} entr{'y' if len(names) == 1 else 'ies'}, such as {names[0]!r}) and holds no "
            "trained model: its files would be written among them; give a new or empty folder"
        )


def _object(value: Any) -> dict[str, Any]:
    """``value`` where it is a JSON object, else an empty one (a record edited or of another version)."""
    return value if isinstance(value, dict) else {}


def read_record(path: Path) -> dict[str, Any] | None:
    """A JSON object file's content; None where it is missing, not a regular file (a FIFO is not waited on)
    or not one."""
    try:
        doc = checks.read_json("record", path)
    except (InvalidArgumentError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _weights_fit(path: Path, shapes: dict[str, list[int]]) -> bool:
    """Whether ``path``'s safetensors header (read alone: a foreign file may be large) says ``nasproxy train``
    wrote it (its metadata's format) and names the network's tensors with their ``shapes``."""
    if not path.is_file():  # a FIFO is not waited on
        return False
    try:
        header = safetensors_header(path)
    except (OSError, ValueError):
        return False
    if (header.get("__metadata__") or {}).get("format") != FORMAT:
        return False
    tensors = {name: entry.get("shape") for name, entry in header.items() if name != "__metadata__" and isinstance(entry, dict)}
    return tensors == shapes


def finished(out: Path) -> dict[str, Any] | None:
    """``out``'s ``spec.json`` when it holds a finished export, else None."""
    doc = read_record(out / SPEC)
    return doc if doc is not None and doc.get("format") == FORMAT else None


def whole(out: Path, spec: dict[str, Any]) -> bool:
    """Whether the files ``spec`` lists match the hashes it recorded (a ``spec.json`` of an earlier
    version records none: taken as whole)."""
    hashes = spec.get("sha256")
    if not isinstance(hashes, dict):
        return True
    files = spec.get("files")
    for key, name in files.items() if isinstance(files, dict) else ():
        try:
            if key in hashes and file_sha256(out / name) != hashes[key]:
                return False
        except (OSError, TypeError):
            return False
    return True
