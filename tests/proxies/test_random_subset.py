"""The random real subset a synthetic-set proxy draws for itself (nas_proxy/proxies/synthetic.py)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from nas_proxy.errors import OutputConflictError
from nas_proxy.groundtruth.study import DataRef
from nas_proxy.proxies import RunSetup
from nas_proxy.proxies.synthetic import RandomSubsetRedrawnWarning, _random_subset
from nas_proxy.spaces import get_space
from nas_proxy.synthetic import load_synthetic


def test_a_subset_drawn_again_says_its_whole_cause_where_its_path_holds_a_semicolon(tmp_path: Path) -> None:
    """fix50a: the command's folder 'a; b' (a legal name), its subset's meta.json edited and a sharded run's shards/ in it.
    Before, the warning cut distill's line at its last '; ', inside the path: 'random subset TMP/a; b/random-ipc2-seed0
    could not be used (TMP/a); it is drawn again'. Now the cause whole, without distill's remedy (--distributed, --force)."""
    setup = RunSetup(space=get_space("convnet-small"), data=DataRef("digits"), out=tmp_path / "a; b")
    path = Path(_random_subset(setup, 2))
    drawn = load_synthetic(path).images
    (path / "checkpoint.safetensors").unlink()
    (path / "meta.json").write_text('{"format_version": ')  # edited: no longer JSON
    (path / "shards").mkdir()
    with pytest.warns(RandomSubsetRedrawnWarning) as said:
        assert _random_subset(setup, 2) == str(path)
    assert [str(w.message) for w in said] == [
        f"random subset {path} could not be used ({path} holds a sharded run (its checkpoints in shards/)); it is drawn again"
    ]
    assert json.loads((path / "meta.json").read_text())["ipc"] == 2 and load_synthetic(path).images.equal(drawn)  # the same images


def test_a_subset_of_other_data_is_refused_with_this_commands_remedy_not_distills(tmp_path: Path) -> None:
    """fix50a: correlate --out OUT on a set of split seed 0, then on one of split seed 1 (its random subset, made for the first,
    whole): before, 'OUT/random-ipc2-seed0 holds a different run (split_seed: 0 there, 1 now); use its options to continue it,
    or --force to replace it', and neither correlate nor search takes --force. Now the command's own remedy; the subset kept."""
    first = RunSetup(space=get_space("convnet-small"), data=DataRef("digits"), out=tmp_path)
    path = Path(_random_subset(first, 2))
    kept = {p.name: p.read_bytes() for p in path.iterdir()}
    other = RunSetup(space=get_space("convnet-small"), data=DataRef("digits", split_seed=1), out=tmp_path)
    with pytest.raises(OutputConflictError) as refused:
        _random_subset(other, 2)
    assert str(refused.value) == (
        f"{path} holds a different run (split_seed: 0 there, 1 now); it is a random subset this command draws: remove {path} "
        "and run the same command again"
    )
    assert {p.name: p.read_bytes() for p in path.iterdir()} == kept


def test_a_subset_copied_without_its_checkpoint_is_taken_only_for_the_data_it_was_drawn_from(tmp_path: Path) -> None:
    """fix50a: a whole subset without its checkpoint (copied so) is taken as it is. Before, also by a command on another split
    (correlate --out OUT on a set of split seed 1, OUT's subset drawn for split seed 0): taken without a word, exit 0, its
    images maybe among the validation images it was scored on. Now refused in one line, the subset untouched."""
    first = RunSetup(space=get_space("convnet-small"), data=DataRef("digits"), out=tmp_path)
    path = Path(_random_subset(first, 2))
    (path / "checkpoint.safetensors").unlink()
    kept = {p.name: p.read_bytes() for p in path.iterdir()}
    assert _random_subset(first, 2) == str(path)  # its own data: taken as it is
    other = RunSetup(space=get_space("convnet-small"), data=DataRef("digits", split_seed=1, val_fraction=0.2), out=tmp_path)
    with pytest.raises(OutputConflictError) as refused:
        _random_subset(other, 2)
    assert str(refused.value) == (
        f"{path} holds a random subset of other data (split_seed: 0 there, 1 now; val_fraction: 0.1 there, 0.2 now); "
        f"it is a random subset this command draws: remove {path} and run the same command again"
    )
    assert {p.name: p.read_bytes() for p in path.iterdir()} == kept


def test_a_subset_drawn_before_the_images_changed_in_place_is_drawn_again_from_these(tmp_path: Path) -> None:
    """fix50e: a random subset this command drew, then an image of the folder turned in place: the proxy stopped on the
    set's refusal, 'OUT/random-ipc1-seed0 was made from ... images that differ ...; give the folder it was made from, or
    distill again from this one', which search and correlate cannot do for a subset they draw. It is their cache: drawn
    again from the images found now, said in one warning, and scored."""
    from nas_proxy.correlate import from_space
    from nas_proxy.data import load_dataset
    from nas_proxy.protocols import ProxyConfig
    from nas_proxy.proxies.synthetic import SyntheticSetProxy
    from tests.data.test_data_changed import noisy_folder, turn

    folder = noisy_folder(tmp_path / "photos")

    def setup() -> RunSetup:  # a command's: it reads the data once
        return RunSetup(
            space=get_space("convnet-small"),
            data=DataRef(f"imagefolder:{folder}", 0, 0.5),
            out=tmp_path / "out",
            training=ProxyConfig(epochs=1),
        )

    proxy = SyntheticSetProxy.named(setup(), "random-ipc1")
    assert proxy is not None
    proxy.prepare()
    path = Path(str(proxy.path))  # type: ignore[attr-defined]
    turn(folder / "emu" / "0.png")  # the same label, mean and std: only the pixels tell
    again = SyntheticSetProxy.named(setup(), "random-ipc1")
    assert again is not None
    with pytest.warns(RandomSubsetRedrawnWarning, match=rf"random subset {path} could not be used \(.*images that differ"):
        again.prepare()  # (review51: before its digest keys a cache, not at its first score)
    (arch,) = from_space(get_space("convnet-small"), 1, seed=0)
    got = again.score(arch.spec, arch.arch_id)
    assert got.value == got.value  # a number: scored on the subset drawn again
    now = load_dataset(f"imagefolder:{folder}").content_sha256()
    assert json.loads((path / "meta.json").read_text())["dataset"]["content_sha256"] == now
    drawn = (path / "synthetic.safetensors").stat().st_mtime_ns
    with warnings.catch_warnings():  # a search's other worker that found the old subset too: drawn again once, not twice
        warnings.simplefilter("error", RandomSubsetRedrawnWarning)
        assert _random_subset(setup(), 1, stale="the images changed") == str(path)
    assert (path / "synthetic.safetensors").stat().st_mtime_ns == drawn


def test_scores_made_on_a_subset_drawn_again_for_changed_images_are_kept_under_that_subsets_key(tmp_path: Path) -> None:
    """review51: the subset was found drawn from other images only as the first architecture was scored (ready), after
    score_archs had keyed its cache by the old subset's tensors: the scores made on the subset drawn again went to the old
    subset's cache file, and the next correlate, keyed by the new subset, scored every architecture again. Now prepare()
    draws it again before the cache is keyed: the next run scores none."""
    from nas_proxy.correlate import from_space
    from nas_proxy.protocols import ProxyConfig
    from nas_proxy.proxies import score_archs
    from nas_proxy.proxies.synthetic import SyntheticSetProxy
    from tests.data.test_data_changed import noisy_folder, turn

    folder = noisy_folder(tmp_path / "photos")
    archs = [(a.arch_id, a.spec) for a in from_space(get_space("convnet-small"), 2, seed=0)]
    cache = tmp_path / "cache"

    def scored() -> str:
        """Score ``archs`` as correlate does, in the same folder; the cache key of the subset scored on."""
        data = DataRef(f"imagefolder:{folder}", 0, 0.5)
        setup = RunSetup(space=get_space("convnet-small"), data=data, out=tmp_path / "out", training=ProxyConfig(epochs=1))
        proxy = SyntheticSetProxy.named(setup, "random-ipc1")
        assert proxy is not None
        score_archs(proxy, archs, cache)
        return proxy.cache_key()

    first = scored()
    for image in sorted(folder.rglob("*.png")):  # every image turned: the subset's images change, whichever it draws
        turn(image)
    with pytest.warns(RandomSubsetRedrawnWarning):
        again = scored()
    assert again != first  # drawn again: other tensors
    rows = {p.name: p.read_text() for p in cache.glob("*.jsonl")}
    assert len(rows[f"{again}-cpu.jsonl"].splitlines()) == 2  # the scores made on the subset drawn again, under its key
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomSubsetRedrawnWarning)
        assert scored() == again
    assert {p.name: p.read_text() for p in cache.glob("*.jsonl")} == rows  # nothing scored again


def test_a_random_subsets_check_counts_the_smallest_class_without_splitting_the_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix53c: a random subset's check (every rung of a search ladder, every set a correlation checks) split the data's images
    (Dataset.split copies every training image) once per check, to count its smallest class: 0.48 s on Fashion-MNIST
    each. Now Dataset.smallest_class counts it from the split's indices, the same number; the refusal is distill's own."""
    from nas_proxy.data import load_dataset
    from nas_proxy.data.base import Dataset
    from nas_proxy.errors import InvalidArgumentError
    from nas_proxy.proxies.synthetic import SyntheticSetProxy

    digits = load_dataset("digits")
    for seed, fraction in ((0, 0.1), (3, 0.5), (7, 0.25)):
        assert digits.smallest_class(seed, fraction) == digits.split(seed, fraction).smallest_class()

    def no_split(*args: object, **kwargs: object) -> None:
        raise AssertionError("the check split the images")

    monkeypatch.setattr(Dataset, "split", no_split)
    setup = RunSetup(space=get_space("convnet-small"), data=DataRef("digits"), out=tmp_path)
    smallest = digits.smallest_class(DataRef.split_seed, DataRef.val_fraction)
    SyntheticSetProxy(setup, f"random-ipc{smallest}", "random", None, smallest).check()
    with pytest.raises(InvalidArgumentError, match=rf"^ipc must be between 1 and {smallest} \(the smallest class of digits's"):
        SyntheticSetProxy(setup, f"random-ipc{smallest + 1}", "random", None, smallest + 1).check()
    assert list(tmp_path.iterdir()) == []
