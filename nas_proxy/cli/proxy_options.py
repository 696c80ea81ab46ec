"""The proxy-training flags (fields of :class:`~nas_proxy.protocols.ProxyConfig`) and ``--proxy-profile``,
shared by ``search``, ``score`` and ``correlate`` (and scripts that build their own parser).

A ProxyConfig is resolved in one order: its dataclass defaults < ``--proxy-profile`` < the
``--config`` file's table < the flags typed (:func:`proxy_config`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from nas_proxy import configs
from nas_proxy.cli.common import off, option
from nas_proxy.cli.types import finite_float, integer, nonempty
from nas_proxy.protocols import ProxyConfig

if TYPE_CHECKING:
    from nas_proxy.protocols import DataRef

# option dest -> ProxyConfig field where the two differ (a --no-X flag sets X to false)
FLAG_FIELDS = {"no_dsa": "dsa", "no_amp": "amp", "proxy_seeds": "seeds"}


def add_proxy_options(p: argparse.ArgumentParser) -> None:
    """The proxy-training flags (not given: the profile, the config file, else the field's default)
    and ``--proxy-profile``. Each records when it is typed, in any parser (``configs.track``)."""
    f = ProxyConfig
    g = p.add_argument_group("proxy training (each candidate on the synthetic set)")
    actions = [
        option(g, "--epochs", type=integer, field=(f, "epochs")),
        option(g, "--lr", type=finite_float, field=(f, "lr")),
        option(g, "--batch-size", type=integer, field=(f, "batch_size")),
        g.add_argument("--no-dsa", action="store_true", help="no DSA augmentation"),
        option(g, "--report-every", type=integer, field=(f, "report_every"), help="epochs between validation reports (pruning)"),
        option(g, "--report-images", type=integer, field=(f, "report_images"), help="validation images scored at each report"),
        g.add_argument("--no-amp", action="store_true", help="CUDA: train and validate in float32 instead of bf16 autocast"),
        g.add_argument("--channels-last", action="store_true", default=None, help="CUDA: NHWC weights and batches"),
        g.add_argument("--cuda-graph", action="store_true", default=None, help="CUDA: replay forward + backward as CUDA graphs"),
        option(
            g,
            "--proxy-seeds",
            type=integer,
            metavar="K",
            field=(f, "seeds"),
            help="train K independently initialised copies of each candidate as one batched model and score their mean",
        ),
        g.add_argument(
            "--hard-labels",
            action="store_true",
            default=None,
            help="a set with soft labels (distill --soft-labels): train on its class indices",
        ),
        g.add_argument(
            "--proxy-profile",
            type=nonempty,
            metavar="FILE",
            help="a proxy profile (nasproxy calibrate writes one): its values replace the defaults above; options given here still win",
        ),
    ]
    for action in actions:
        configs.track(action)


def proxy_config(args: argparse.Namespace, table: dict[str, Any] | None = None, where: str = "proxy") -> ProxyConfig:
    """ProxyConfig from its defaults, then ``--proxy-profile``, then ``table`` (a config file's), then the flags given."""
    proxy = configs.build(
        ProxyConfig,
        table or {},
        where,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        dsa=off(args.no_dsa),
        report_every=args.report_every,
        report_images=args.report_images,
        amp=off(args.no_amp),
        channels_last=args.channels_last,
        cuda_graph=args.cuda_graph,
        seeds=args.proxy_seeds,
        hard_labels=args.hard_labels,
    )
    return with_profile(args, proxy, also_given=set(table or {}))  # the profile's values where neither file nor flag set one


def with_profile(args: argparse.Namespace, proxy: ProxyConfig, also_given: Iterable[str] = ()) -> ProxyConfig:
    """``proxy`` (built from the options) with ``--proxy-profile``'s values where no option was typed
    and no field was set in ``also_given`` (a config file's keys)."""
    path = getattr(args, "proxy_profile", None)
    if not path:
        return proxy
    from nas_proxy.profile import read_profile

    return read_profile(path).apply(proxy, proxy_given(args) | set(also_given))


def check_profile_sets(args: argparse.Namespace, sets: list[str], space: str | None = None, dataset: str | None = None) -> None:
    """``--proxy-profile`` against each synthetic set the command resolved (typed, or from its --config):
    one of another dataset refused, another set of the same data noted on stderr (:meth:`ProxyProfile.check_sets`);
    against its search space, when it has one: a space of other architectures refused (:meth:`ProxyProfile.check_space`);
    and against the real data it names (``dataset``: a search's --dataset), another dataset refused."""
    import warnings

    from nas_proxy.errors import NasProxyWarning
    from nas_proxy.profile import read_profile

    path = getattr(args, "proxy_profile", None)
    if path:
        profile = read_profile(path)
        for note in profile.check_sets(sets, f"--proxy-profile {path}"):
            warnings.warn(note, NasProxyWarning, stacklevel=2)
        if space is not None:
            profile.check_space(space, f"--proxy-profile {path}")
        if dataset is not None:  # before stop 51 a ladders profile chosen on another dataset's table was climbed unsaid
            profile.check_dataset(dataset, f"this search's data is {dataset}", f"--proxy-profile {path}")


def profile_data_check(args: argparse.Namespace) -> Callable[[DataRef, str], None] | None:
    """``--proxy-profile``'s check of the real data a search loads (a :class:`~nas_proxy.protocols.DataRef` and its
    content_sha256), for :func:`nas_proxy.search.search`'s ``check_data``: data of the profile's dataset but another
    copy than the one it was calibrated on (``calibration.dataset_sha256``) refused (:meth:`ProxyProfile.check_digest`);
    None without a profile. Its name is checked before, by :func:`check_profile_sets`; the digest only once the data is
    read, as the search reads it (once). Before fix53e ``search --dataset D`` compared the name alone, and climbed a
    ladder chosen on other images of D without a word."""
    path = getattr(args, "proxy_profile", None)
    if not path:
        return None
    from nas_proxy.profile import read_profile

    return read_profile(path).data_check(f"--proxy-profile {path}")


def profile_ladder(args: argparse.Namespace) -> str | None:
    """``--proxy-profile``'s ``[search] ladder`` (``calibrate --ladders`` chose it), or None."""
    path = getattr(args, "proxy_profile", None)
    if not path:
        return None
    from nas_proxy.profile import read_profile

    return read_profile(path).ladder


def proxy_given(args: argparse.Namespace) -> set[str]:
    """The ProxyConfig fields whose flags were typed on the command line (whatever their value)."""
    return {FLAG_FIELDS.get(dest, dest) for dest in configs.given(args)} & configs.fields(ProxyConfig)
