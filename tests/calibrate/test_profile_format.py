"""The proxy profile's format version: a profile holding a key an older nasproxy does not know is written as a
newer format (which that nasproxy refuses as a newer one's, not as an 'unknown key'), one without such keys keeps
its older version, this nasproxy reads every earlier format, and a profile of a newer one is refused whole, never
replaced by ``calibrate``."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.cli import main
from nas_proxy.errors import NewerFormatError
from nas_proxy.profile import CALIBRATION_KEYS, FORMAT_VERSION, INPUT_KEYS, ProxyProfile, read_profile
from tests.calibrate.test_ladders_rerun import _argv

# what a nasproxy of format 2 (stop 48) reads in [calibration] and in calibration.inputs: anything else it refuses
FORMAT_2_CALIBRATION = {
    *("metric", "objective", "cost_weight", "heldout_fidelity", "heldout_interval", "default_heldout_fidelity"),
    *("gain_over_default", "gain_interval", "tuned_fidelity", "cost_ratio", "folds", "trials", "data", "architectures"),
    *("synthetic", "synthetic_sha256", "dataset", "space", "space_sha256", "synthetic_choices", "seed", "device"),
    *("command", "rule", "target_regret", "regret", "regret_mean", "regret_interval", "p_regret_ok", "saving"),
    *("saving_interval", "search_candidates", "candidate_ladders", "proxies_measured", "scores", "inputs", "ladders_sha256"),
}
FORMAT_2_INPUTS = {"truth", "scores", "split", "options"}
FORMAT_3_CALIBRATION = FORMAT_2_CALIBRATION | {"proxies", "nasproxy_version"}  # what a nasproxy of format 3 (stop 52) reads

SHA = "0" * 64
# a profile as calibrate --ladders of fix48a wrote it (format 2: inputs without the simulation, no proxies, no version)
FORMAT_2_PROFILE = f"""format = "nasproxy-proxy-profile"
format_version = 2

[search]
ladder = "exact:1.0,full:1"

[proxy]

[calibration]
rule = "the largest saving"
target_regret = 0.5
regret = 0.0
regret_mean = 0.0
regret_interval = [0.0, 0.0]
p_regret_ok = 1.0
saving = 20.0
saving_interval = [18.0, 20.0]
search_candidates = 20
candidate_ladders = 12
proxies_measured = ["backwards", "exact", "full", "slow"]
data = "truth.csv"
scores = ["scores.csv"]
architectures = ["a00", "a01", "a02", "a03", "a04"]
seed = 0
command = "nasproxy calibrate --ladders auto --truth truth.csv --scores scores.csv --out p.toml"
inputs = {{"truth" = "{SHA}", "scores" = ["{SHA}"], "options" = "{SHA}"}}
ladders_sha256 = "{SHA}"
"""


def test_a_profile_with_keys_format_2_lacks_is_written_as_format_3(tmp_path: Path) -> None:
    """fix50d: calibrate --ladders has written [calibration] proxies and nasproxy_version and inputs.simulation since
    fix49a, as format 2, so a nasproxy of format 2 said 'unknown key calibration.proxies' where it should say a newer
    nasproxy wrote the file. Every key written beyond format 2's makes it format 3 now."""
    out = tmp_path / "p.toml"
    assert main(_argv(tmp_path, out)) == 0
    profile = read_profile(out)
    newer = (set(profile.calibration) - FORMAT_2_CALIBRATION) | (set(profile.calibration["inputs"]) - FORMAT_2_INPUTS)
    assert newer == {"proxies", "nasproxy_version", "simulation"}
    assert "format_version = 3\n" in out.read_text()
    assert FORMAT_VERSION == 4
    # any key this nasproxy knows beyond format 2's makes a profile format 3 (4: beyond format 3's), whichever table
    for key in set(CALIBRATION_KEYS) - FORMAT_2_CALIBRATION:
        assert ProxyProfile({}, {key: "x"}).format_version() == (3 if key in FORMAT_3_CALIBRATION else 4), key
    for key in set(INPUT_KEYS) - FORMAT_2_INPUTS:
        assert ProxyProfile({}, {"inputs": {key: SHA}}, "exact:1.0,full:1").format_version() == 3, key


def test_a_profile_without_them_keeps_its_older_format() -> None:
    """A protocol study's profile is format 1 and a ladder's without the new keys format 2, as before: a nasproxy of
    either reads them."""
    assert ProxyProfile({"epochs": 5}, {"seed": 0}).format_version() == 1
    assert "format_version = 1\n" in ProxyProfile({"epochs": 5}, {"seed": 0}).to_toml()
    assert ProxyProfile({}, {"seed": 0, "inputs": {"truth": SHA}}, "exact:1.0,full:1").format_version() == 2


def test_a_format_2_profile_is_read_and_chosen_again_by_calibrate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """This nasproxy reads a profile fix48a wrote; calibrate --ladders on it chooses again (it records no simulation)
    and writes format 3."""
    out = tmp_path / "p.toml"
    out.write_text(FORMAT_2_PROFILE)
    old = read_profile(out)
    assert old.ladder == "exact:1.0,full:1" and old.calibration["inputs"]["truth"] == SHA
    assert main(_argv(tmp_path, out)) == 0
    assert capsys.readouterr().out.startswith(f"{out} records no version of the ladder simulation")
    assert "format_version = 3\n" in out.read_text()


def test_a_profile_of_a_newer_nasproxy_is_refused_whole_and_never_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fix50d: before, a newer format was refused as 'not one this nasproxy reads' by search, and calibrate --ladders
    on it said 'not a profile this command can keep; choosing again' and replaced the newer nasproxy's profile."""
    out = tmp_path / "p.toml"
    text = FORMAT_2_PROFILE.replace("format_version = 2", f"format_version = {FORMAT_VERSION + 1}")
    out.write_text(text)
    with pytest.raises(NewerFormatError, match="was written by a newer nasproxy"):
        read_profile(out)
    assert main(_argv(tmp_path, out)) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"nasproxy calibrate: error: --out {out}: proxy profile {out} was written by a newer nasproxy "
        f"(format_version {FORMAT_VERSION + 1}; this one reads 1 to {FORMAT_VERSION}); upgrade nasproxy, or give another --out"
    ]
    assert out.read_text() == text and not out.with_name("p-ladders.csv").exists()


def test_a_profile_recording_its_datas_digest_is_format_4() -> None:
    """fix53a: calibrate --ladders records the table's data digest (dataset_sha256), which a nasproxy of format 3 (stop
    52) does not know: such a profile is format 4, which that nasproxy refuses as a newer one's, not as 'unknown key
    calibration.dataset_sha256'; this one reads it back."""
    profile = ProxyProfile({}, {"seed": 0, "dataset": "digits", "dataset_sha256": SHA, "nasproxy_version": "x"}, "exact:1.0,full:1")
    assert profile.format_version() == 4 and "format_version = 4\n" in profile.to_toml()
