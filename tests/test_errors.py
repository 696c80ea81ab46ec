"""An error's cause and remedy, kept apart (nas_proxy/errors.py): the line a command prints is unchanged, and a
caller that ran another command for the user puts its own remedy in place of that command's without cutting text."""

from __future__ import annotations

import pickle
from pathlib import Path

from nas_proxy.distill.checkpoint import read_checkpoint
from nas_proxy.errors import ArtifactError, InterruptedRunError, NasProxyError, OutputConflictError
from nas_proxy.files import DiskFullError


def test_one_string_is_the_cause_and_names_no_remedy() -> None:
    e = OutputConflictError("runs/x is a file, not a directory")
    assert str(e) == e.cause == "runs/x is a file, not a directory" and e.remedy is None


def test_the_line_is_the_cause_then_the_remedy() -> None:
    e = ArtifactError("checkpoint a; b/c is unreadable", remedy="start again with --force")
    assert (e.cause, e.remedy, str(e)) == (
        "checkpoint a; b/c is unreadable",
        "start again with --force",
        "checkpoint a; b/c is unreadable; start again with --force",
    )
    assert str(ArtifactError("set s holds a sharded run", remedy="continue it", sep=": ")) == "set s holds a sharded run: continue it"


def test_another_remedy_keeps_a_cause_that_holds_semicolons_whole() -> None:
    """A path may hold "; ": the cause is kept as it was given, not found again in the text."""
    e = OutputConflictError("/data/a; b/set holds a different run (ipc: 1 there, 2 now; seed: 0 there, 1 now)", remedy="or --force")
    again = e.with_remedy("remove /data/a; b/set and run the same preset again")
    assert type(again) is OutputConflictError and again.__cause__ is e
    assert again.cause == e.cause and again.remedy == "remove /data/a; b/set and run the same preset again"
    assert str(again) == f"{e.cause}; remove /data/a; b/set and run the same preset again"
    assert (str(e), e.remedy) == (f"{e.cause}; or --force", "or --force")  # the first error unchanged


def test_another_remedy_keeps_the_errors_class_and_attributes() -> None:
    """A class whose constructor takes other arguments (DiskFullError's path and sizes) and an exit code set on the
    error (SIGTERM's 143) survive the new remedy."""
    stopped = InterruptedRunError("interrupted at iteration 3; continue with --resume", exit_code=143).with_remedy("run it again")
    assert type(stopped) is InterruptedRunError and stopped.exit_code == 143 and str(stopped).endswith("; run it again")
    full = DiskFullError(Path("/out/x"), 10, 2)
    again = full.with_remedy("free some space")
    assert type(again) is DiskFullError and again.path == full.path and again.cause == str(full)
    assert str(again) == f"{full}; free some space"


def test_an_error_with_a_remedy_crosses_processes_whole() -> None:
    """Pickled (a worker's error handed to its parent): the same line, the same fields."""
    e = pickle.loads(pickle.dumps(ArtifactError("x; y is corrupt", remedy="distil again")))
    assert (str(e), e.cause, e.remedy) == ("x; y is corrupt; distil again", "x; y is corrupt", "distil again")
    assert isinstance(e, NasProxyError)
    # review51: the lines above pass with Python's own pickling too (it calls __init__ with the whole text, then restores
    # the fields); a class whose __init__ takes other arguments is what NasProxyError.__reduce__ is for
    full = DiskFullError(Path("/out/x"), 10, 2).with_remedy("free some space")
    back = pickle.loads(pickle.dumps(full))
    assert (type(back), str(back), back.path, back.needed, back.remedy) == (DiskFullError, str(full), full.path, 10, "free some space")


def test_a_converted_refusal_says_the_same_line_and_names_its_remedy(tmp_path: Path) -> None:
    """distill's checkpoint refusal: the line it printed before (docs/bad-inputs.md), its remedy apart."""
    path = tmp_path / "a; b" / "checkpoint.safetensors"
    path.parent.mkdir()
    path.write_bytes(b"not a safetensors file")
    try:
        read_checkpoint(path)
    except ArtifactError as e:
        assert e.remedy == "start again with --force" and e.cause.startswith(f"checkpoint {path} is unreadable (")
        assert str(e) == f"{e.cause}; start again with --force"
    else:
        raise AssertionError("a file that is no checkpoint was read")


def test_the_missing_path_an_error_names_survives_a_new_remedy_a_new_cause_and_pickling() -> None:
    """fix52e: ``missing`` (the path that does not exist) is what `run` reads to say where a preset's path was looked for."""
    e = ArtifactError("set syn does not exist", missing=Path("syn"))
    assert e.missing == "syn" and OutputConflictError("x").missing is None
    for again in (e.with_remedy("distil it"), e.with_cause("p.toml [search]: set syn does not exist"), pickle.loads(pickle.dumps(e))):
        assert again.missing == "syn"
