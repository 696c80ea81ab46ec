"""Per-architecture training-free scores of a ground-truth table, as a long scores CSV.

    OMP_NUM_THREADS=1 python benchmarks/zero_cost_scores.py --device cpu \\
        --seconds-from benchmarks/gpu/2026-11-26-h100/fidelity-100-scores/fidelity.json \\
        --out benchmarks/ladders/zero-cost-scores.csv

Every registered zero-cost score (``nas_proxy.proxies.zero_cost``) of every architecture of
``--table``, through the library's training-free proxy (``ZeroCostProxy``: the seeded untrained
network, one seeded batch of real training images; the same draws as ``benchmarks/fidelity.py
--proxy zero-cost:NAME``). Writes ``proxy,arch_id,score,seconds,cpu_seconds,dataset,data_sha256``: ``cpu_seconds`` is what
the score took here; ``seconds`` is the per-architecture mean a GPU run measured for that score
(``--seconds-from``: a ``fidelity.json`` whose proxies include it), so that a ladder's compute is in
the same seconds as the table's trainings; without ``--seconds-from`` it is ``cpu_seconds``. ``dataset`` and ``data_sha256`` name the data of the batch (its
content digest), as a ground-truth table's rows do: a reader (fidelity.py ``scores:``) refuses them against a table of
other data.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import stat
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from fidelity_table import check_dataset, read_table  # noqa: E402

from nas_proxy import checks  # noqa: E402
from nas_proxy.cli.common import ScriptParser, one_line_errors  # noqa: E402
from nas_proxy.errors import InvalidArgumentError, shown  # noqa: E402
from nas_proxy.files import write_text  # noqa: E402
from nas_proxy.groundtruth.tables import row_columns  # noqa: E402
from nas_proxy.proxies.base import RunSetup  # noqa: E402
from nas_proxy.proxies.training_free import ZeroCostProxy  # noqa: E402
from nas_proxy.proxies.zero_cost import ZERO_COST  # noqa: E402
from nas_proxy.spaces import get_space  # noqa: E402
from nas_proxy.trainers.fulldata import DataRef  # noqa: E402


@one_line_errors("zero_cost_scores.py")
def main(argv: list[str] | None = None) -> int:
    p = ScriptParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--table", type=Path, default=Path(__file__).parent / "groundtruth" / "fashion-mnist-convnet720.csv")
    p.add_argument("--dataset", default="fashion-mnist", help="real data of the scores' batch (default %(default)s)")
    p.add_argument("--data-root")
    p.add_argument("--space", default="convnet720", help="space of the table's architectures (default %(default)s)")
    p.add_argument("--batch", type=int, default=64, help="training images a score sees (default %(default)s, fidelity.py's)")
    p.add_argument("--seed", type=int, default=0, help="network and batch seed (default %(default)s)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds-from", type=Path, help="a fidelity.json whose per-architecture seconds become the 'seconds' column")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    # refused before any scoring (probe45): --batch 0 scored every network on no image, exit 0; --out a folder was an
    # IsADirectoryError once every score was computed, and every one lost
    checks.number("--batch", args.batch, 1, integer=True)
    if (st := checks.status("--out", args.out)) is not None and stat.S_ISDIR(st.st_mode):
        raise InvalidArgumentError(f"--out {args.out} is a folder; give the CSV file to write, such as {args.out / 'zero-cost.csv'}")
    table = read_table(args.table)
    check_dataset(table.data, args.dataset, "the zero-cost scores' real data (--dataset)", read=True, root=args.data_root)
    gpu = _seconds_from(args.seconds_from) if args.seconds_from else {}
    setup = RunSetup(
        get_space(args.space),
        DataRef(args.dataset, 0, 0.1, args.data_root),
        args.out.parent,
        zero_cost_batch=args.batch,
        seed=args.seed,
        device=args.device,
    )
    rows = []
    for name in ZERO_COST.names():
        proxy = ZeroCostProxy(setup, name)
        for aid in table.ids:
            s = proxy.score(table.specs[aid], aid)
            seconds = gpu.get(name, s.seconds)
            row = {"proxy": name, "arch_id": aid, "score": s.value, "seconds": seconds, "cpu_seconds": round(s.seconds, 4)}
            rows.append(row | row_columns(args.dataset, setup.content_sha256()))  # the data scored on, as a table names it
        print(f"{name}: {len(table.ids)} architectures", file=sys.stderr)
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    write_text(args.out, text.getvalue())  # whole or not at all (a kill mid-write left a torn CSV)
    return 0


def _seconds_from(path: Path) -> dict[str, float]:
    """Each proxy's seconds per architecture in ``path``, a ``fidelity.json`` (``proxies``: name -> ``seconds_per_arch``);
    one line for a file of another shape (before stop 45: a KeyError once read, or while scoring)."""
    doc = checks.parse_json(f"--seconds-from {path}", checks.read_text("--seconds-from", path))
    proxies = doc.get("proxies") if isinstance(doc, dict) else None
    if not isinstance(proxies, dict):
        raise InvalidArgumentError(f"--seconds-from {path} has no 'proxies' object; give a fidelity.json written by benchmarks/fidelity.py")
    seconds = {}
    for name, row in proxies.items():
        value = row.get("seconds_per_arch") if isinstance(row, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidArgumentError(
                f"--seconds-from {path}: proxy {name!r} has no seconds_per_arch number ({shown(value)}); give a fidelity.json written by benchmarks/fidelity.py"
            )
        seconds[name] = float(value)
    return seconds


if __name__ == "__main__":
    sys.exit(main())
