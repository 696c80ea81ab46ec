"""probe58's inputs whose refusal or handling depends on this machine or this process, so that they are no case of
``tests/bad_inputs.py`` (its table would differ from run to run): a network larger than the memory free now, a
``MPLCONFIGDIR`` that matplotlib cannot use; and the report's title made of names read from the user's paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from nas_proxy.cli import main
from nas_proxy.data import formats
from nas_proxy.evaluate import BYTES_PER_PARAMETER, check_memory, training_memory
from nas_proxy.models import ConvNet, ConvNetSpec


def test_the_training_memory_counts_the_networks_own_parameters() -> None:
    spec = ConvNetSpec.parse("depth=2,width=24")
    need, params = training_memory(spec, (3, 16, 16), 10, 8)
    assert params == sum(p.numel() for p in ConvNet(3, 10, (16, 16), spec).parameters())
    assert need > BYTES_PER_PARAMETER * params  # and what the batch's forward saves


def test_a_network_larger_than_the_free_memory_is_refused_before_anything_is_allocated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "memory_available", lambda: 10**9)
    check_memory(ConvNetSpec.parse("width=128"), (1, 16, 16), 10, 10, torch.device("cpu"))  # 0.3 M parameters: taken
    with pytest.raises(Exception, match=r"has 1,800,580,010 parameters: .* needs about 21.\d GB of cpu memory, and 1.0 GB is free now"):
        check_memory(ConvNetSpec.parse("width=10000"), (1, 16, 16), 10, 10, torch.device("cpu"))


def test_evaluate_refuses_the_width_of_10000_in_one_line(
    tiny_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(formats, "memory_available", lambda: 10**9)
    before = sorted(p.name for p in tiny_run.iterdir())
    code = main(["evaluate", str(tiny_run), "--runs", "1", "--epochs", "1", "--device", "cpu", "--quiet", "--model", "width=10000"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "is free now; give a smaller width or depth" in err, err
    assert sorted(p.name for p in tiny_run.iterdir()) == before


@pytest.mark.parametrize("kind", ["file", "missing-parent-file"])
def test_an_mplconfigdir_matplotlib_cannot_use_is_replaced_by_a_folder_of_its_own(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before probe58 matplotlib printed "mkdir -p failed for path ..." and "Matplotlib created a temporary cache
    directory ..." amid nasproxy's one line where MPLCONFIGDIR named a file (or, for a user, a folder they cannot write)."""
    from nas_proxy.report import backend

    (tmp_path / "notes.txt").write_text("not a folder")
    chosen = tmp_path / "notes.txt" if kind == "file" else tmp_path / "notes.txt" / "mpl"
    monkeypatch.setenv("MPLCONFIGDIR", str(chosen))
    backend._writable_config_dir()
    now = Path(os.environ["MPLCONFIGDIR"])
    assert now != chosen and now.is_dir() and os.access(now, os.W_OK)


def test_a_usable_mplconfigdir_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nas_proxy.report import backend

    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    backend._writable_config_dir()
    assert os.environ["MPLCONFIGDIR"] == str(tmp_path / "mpl")


def test_the_reports_title_takes_names_from_paths_literally() -> None:
    """A space file '*x*|<b>.toml' was emphasis in report.md; report.html's <title> shows the name as it is, escaped."""
    import html

    from markdown_it import MarkdownIt

    from nas_proxy.report.render import _title
    from nas_proxy.search.dashboard import md_text

    facts = {"data": {"dataset": "imagefolder:a&b"}, "space": "*x*|<b>.toml"}
    rendered = MarkdownIt("commonmark", {"html": False}).render("# " + _title(facts, md_text))
    assert "<em>" not in rendered and html.escape("*x*|<b>.toml", quote=False) in rendered
    assert _title(facts) == "Proxy vs ground truth: imagefolder:a&b, space *x*|<b>.toml"


def test_a_batch_real_above_the_smallest_class_is_capped_saying_so() -> None:
    """Before probe58 ``--batch-real 1000000000`` ran with the 104 images of digits' smallest class, saying nothing."""
    import warnings

    from nas_proxy.checks import BatchCappedWarning
    from nas_proxy.distill.config import DistillConfig, check_batch_real

    with pytest.warns(BatchCappedWarning, match="batch_real 1000000000 is more than the 104 images of the smallest class of digits"):
        check_batch_real(10**9, 104, "digits")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_batch_real(104, 104, "digits")
        check_batch_real(DistillConfig.batch_real, 10, "digits")  # the default, nobody's choice for this data: capped quietly
