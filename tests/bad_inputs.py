"""Every bad input nasproxy has been tried with, and the one line each gets.

``CASES`` is the single list that ``tests/test_bad_inputs.py`` runs and that
``python -m tests.bad_inputs --write docs/bad-inputs.md`` turns into the table in the docs (see
:mod:`tests.bad_input_runner` for what "handled right" means). Paths are relative to the workspace
of broken files that :mod:`tests.bad_inputs_files` writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.bad_input_runner import Case, problems, run_all, table

D = "distill --dataset digits --ipc 1 --iterations 1 --quiet --out OUT"
E = "evaluate syn --runs 1 --epochs 1 --device cpu --quiet"
S = "search --synthetic syn --space convnet-cpu --study s1 --n-trials 1 --epochs 1 --device cpu --quiet"
W = "worker --study done --storage studies/done/journal.log --quiet"
SC = "score --synthetic syn --space convnet-cpu --archs archs/good.json --epochs 1 --device cpu --quiet"
C = "correlate --sample --space convnet-cpu --synthetic syn --n-archs 3 --full-epochs 2 --full-images 20 --epochs 1 --bootstrap 10 --device cpu --quiet --out OUT"
CA = C.replace("--sample", "--archs archs/good.json")
SL = "soft-labels syn --soft-labels 2 --teacher-space convnet-cpu --device cpu --quiet"
CAL = "calibrate --truth archs/truth-8.json --space convnet-cpu --synthetic syn --study c1 --folds 2 --trials 1 --epochs-choices 1 --device cpu --quiet"


def _art(name: str) -> str:
    return f"evaluate art/{name} --runs 1 --epochs 1 --device cpu --quiet"


CASES: list[Case] = [
    # ---- the command line itself
    Case("", "the following arguments are required: COMMAND"),
    Case("frobnicate", "invalid choice: 'frobnicate'"),
    Case("distill --ipc 1 --out OUT", "the following arguments are required: --dataset"),
    Case("search --synthetic syn --space convnet-cpu --study s1", "required: --n-trials"),
    # ---- distill: names
    Case("distill --dataset fashion-mnst --ipc 1 --out OUT", "Did you mean 'fashion-mnist'"),
    Case(f"{D} --method dc", "invalid choice: 'dc'"),
    Case(f"{D} --net-norm batch", "invalid choice: 'batch'"),
    Case(f"{D} --init zeros", "invalid choice: 'zeros'"),
    Case(f"{D} --device tpu", "unknown device 'tpu'"),
    # ---- distill: numbers
    Case(f"{D} --ipc 0", "ipc must be"),
    Case(f"{D} --ipc 5000", "smallest class of digits"),
    Case(f"{D} --ipc two", "invalid int value: 'two'"),
    Case(f"{D} --iterations -1", "iterations must be"),
    Case(f"{D} --batch-real 0", "batch_real must be"),
    Case(f"{D} --image-lr 0", "image_lr must be"),
    Case(f"{D} --image-lr nan", "expected a finite number, got 'nan'"),
    Case(f"{D} --image-lr 1e999", "expected a finite number, got '1e999'", fixed=True),
    Case(f"{D} --lambda -1", "lambda_mmd must be", fixed=True),
    Case(f"{D} --lambda nan", "argument --lambda: expected a finite number", fixed=True),
    Case(f"{D} --attention-power 0", "attention_power must be"),
    Case(f"{D} --attention-power inf", "argument --attention-power: expected a finite number", fixed=True),
    Case(f"{D} --val-fraction 0", "val_fraction must be", fixed=True),
    Case(f"{D} --val-fraction 1", "val_fraction must be"),
    Case(f"{D} --val-fraction nan", "argument --val-fraction: expected a finite number"),
    Case(f"{D} --val-fraction 10%", "expected a number, got '10%'"),
    Case(f"{D} --image-size 2", "image_size must be at least 4"),
    Case(f"{D} --checkpoint-every 0", "checkpoint_every must be"),
    Case(f"{D} --seed -1", "seed must be", fixed=True),
    Case(f"{D} --split-seed -3", "split_seed must be", fixed=True),
    # ---- distill: output directory
    Case("distill --dataset digits --ipc 1 --out notes.txt", "notes.txt is a file"),
    Case("distill --dataset digits --ipc 1 --out spaces", "spaces is not empty and holds no nasproxy run"),
    Case(f"{D} --resume", "nothing to resume in OUT"),
    Case(f"{D} --resume --force", "not allowed with argument --resume"),
    Case("distill --dataset digits --ipc 1 --out syn", "already holds a run"),
    Case("distill --dataset digits --ipc 2 --out syn --resume", "holds a different run"),
    # ---- distill: datasets that are missing, foreign, truncated or corrupt
    Case("distill --dataset mnist --ipc 1 --out OUT", "--data-root"),
    Case("distill --dataset mnist --data-root data/empty --ipc 1 --out OUT", "mnist files not found"),
    Case("distill --dataset fashion-mnist --download --ipc 1 --out OUT --data-root", "expected one argument"),
    Case("distill --dataset mnist --data-root data/idx-truncated --ipc 1 --out OUT", "is truncated or padded"),
    Case("distill --dataset mnist --data-root data/idx-magic --ipc 1 --out OUT", "bad magic number"),
    Case("distill --dataset mnist --data-root data/idx-gzip --ipc 1 --out OUT", "train-images-idx3-ubyte.gz"),
    Case("distill --dataset mnist --data-root data/idx-count --ipc 1 --out OUT", "do not match"),
    Case("distill --dataset mnist --data-root data/idx-labels --ipc 1 --out OUT", "labels outside [0, 10)"),
    Case("distill --dataset cifar10 --ipc 1 --out OUT", "cifar10 needs --data-root"),
    Case("distill --dataset cifar10 --data-root data/empty --ipc 1 --out OUT", "cifar-10-batches-py"),
    Case("distill --dataset cifar10 --data-root data/cifar-truncated --ipc 1 --out OUT", "cannot read CIFAR file"),
    Case("distill --dataset cifar10 --data-root data/cifar-evil --ipc 1 --out OUT", "refusing to load posix.getcwd"),
    Case("distill --dataset cifar10 --data-root data/cifar-list --ipc 1 --out OUT", "is not a CIFAR batch"),
    Case("distill --dataset cifar10 --data-root data/cifar-nodata --ipc 1 --out OUT", "lacks 'data'", fixed=True),
    Case("distill --dataset cifar10 --data-root data/cifar-rows --ipc 1 --out OUT", "3072", fixed=True),
    Case("distill --dataset cifar10 --data-root data/cifar-meta-nonames --ipc 1 --out OUT", "lacks 'label_names'", fixed=True),
    Case("distill --dataset cifar10 --data-root data/cifar-meta-short --ipc 1 --out OUT", "a list of 10 class names"),
    Case("distill --dataset cifar100 --data-root data/cifar100-notrain --ipc 1 --out OUT", "missing CIFAR file"),
    Case("distill --dataset svhn --data-root data/empty --ipc 1 --out OUT", "test_32x32.mat"),
    Case("distill --dataset svhn --data-root data/svhn-garbage --ipc 1 --out OUT", "cannot read SVHN file", fixed=True),
    Case("distill --dataset svhn --data-root data/svhn-nokeys --ipc 1 --out OUT", "lacks 'X'", fixed=True),
    Case("distill --dataset imagefolder --ipc 1 --out OUT", "imagefolder needs a path"),
    Case("distill --dataset imagefolder:img/nowhere --ipc 1 --out OUT", "does not exist"),
    Case("distill --dataset imagefolder:notes.txt --ipc 1 --out OUT", "does not exist"),
    Case("distill --dataset imagefolder:img/one-image --ipc 1 --out OUT", "at least 2 images each"),
    Case("distill --dataset imagefolder:img/no-images --ipc 1 --out OUT", "no images under"),
    Case("distill --dataset imagefolder:img/corrupt --ipc 1 --out OUT", "cannot read image"),
    Case("distill --dataset imagefolder:img/bomb --ipc 1 --out OUT", "decompression bomb", fixed=True),
    Case("distill --dataset imagefolder:img/big --ipc 1 --out OUT", "decompression bomb", fixed=True),
    Case("distill --dataset imagefolder:img/split-classes --ipc 1 --out OUT", "different class folders"),
    Case("distill --dataset imagefolder:img/split-modes --ipc 1 --out OUT", "differ in colour mode"),
    # ---- evaluate: options
    Case("evaluate", "the following arguments are required: DIR"),
    Case(f"{E} --runs 0", "runs must be at least 1"),
    Case(f"{E} --epochs 0", "epochs must be at least 1"),
    Case(f"{E} --lr 0", "lr must be", fixed=True),
    Case(f"{E} --lr nan", "argument --lr: expected a finite number", fixed=True),
    Case(f"{E} --batch-size 0", "batch_size must be", fixed=True),
    Case(f"{E} --model depth=3,activation=gelu", "activation must be one of"),
    Case(f"{E} --model depth=0", "depth"),
    Case(f"{E} --model depth", "model spec parts are key=value"),
    Case(f"{E} --model kernel=3", "kernel"),
    # ---- evaluate: synthetic sets that are missing, unfinished, foreign or corrupt
    Case("evaluate nowhere", "nowhere does not exist"),
    Case("evaluate notes.txt", "is a file; a synthetic set is a directory"),
    Case(_art("no-meta"), "no meta.json"),
    Case(_art("unfinished"), "unfinished distillation"),
    Case(_art("bad-json"), "is not valid JSON"),
    Case(_art("meta-list"), "is not nasproxy synthetic-set metadata"),
    Case(_art("foreign-format"), "format 'something-else'"),
    Case(_art("newer"), "newer nasproxy"),
    Case(_art("version-text"), "format_version", fixed=True),
    Case(_art("no-dataset"), "dataset", fixed=True),
    Case(_art("classes-text"), "num_classes", fixed=True),
    Case(_art("size-text"), "image_size"),
    Case(_art("escape"), "leads outside", fixed=True),
    Case(_art("absolute"), "leads outside", fixed=True),
    Case(_art("symlink"), "leads outside", fixed=True),
    Case(_art("missing-tensors"), "is missing"),
    Case(_art("modified"), "does not match the SHA-256"),
    Case(_art("truncated"), "not a readable safetensors file"),
    Case(_art("pickle-pt"), "refuses that"),
    Case(_art("garbage-pt"), "cannot be read as a tensor file"),
    Case(_art("txt"), "unknown tensor file type '.txt'"),
    Case(_art("no-labels"), "must hold tensors 'images' and 'labels'"),
    Case(_art("labels-range"), "labels outside [0, 10)"),
    Case(_art("labels-float"), "int64"),
    Case(_art("shape"), "differs from meta.json"),
    # ---- search
    Case(S.replace("--synthetic syn", "--synthetic nowhere"), "nowhere does not exist"),
    Case(S.replace("--synthetic syn", "--synthetic art/split-text"), "val_fraction", fixed=True),
    Case(S.replace("--synthetic syn", "--synthetic art/no-split"), "split", fixed=True),
    Case(S.replace("convnet-cpu", "convnet-cpuu"), "Did you mean 'convnet-cpu'"),
    Case(S.replace("convnet-cpu", "spaces/missing.toml"), "cannot read search space file"),
    Case(S.replace("convnet-cpu", "spaces/bad.toml"), "not valid TOML"),
    Case(S.replace("convnet-cpu", "spaces/nofamily.toml"), "key 'family' is required"),
    Case(S.replace("convnet-cpu", "spaces/unknown-family.toml"), "resnet"),
    Case(S.replace("convnet-cpu", "spaces/unknown-param.toml"), "kernel"),
    Case(S.replace("convnet-cpu", "spaces/bad-value.toml"), "swish"),
    Case(S.replace("convnet-cpu", "spaces/params-list.toml"), "must be a table"),
    Case(S.replace("convnet-cpu", "spaces/list.json"), "must be an object"),
    Case(S.replace("convnet-cpu", "spaces/bad.json"), "not valid JSON"),
    Case(S.replace("convnet-cpu", "spaces/space.yaml"), "must end in .toml or .json"),
    Case(S.replace("convnet-cpu", "spaces/dir.toml"), "cannot read search space file"),
    Case(S.replace("--study s1", "--study a/b"), "plain name"),
    Case(S.replace("--study s1", "--study .."), "plain name"),
    Case(S.replace("--n-trials 1", "--n-trials 0"), "--n-trials and --workers must be at least 1"),
    Case(f"{S} --workers 0", "--n-trials and --workers must be at least 1"),
    Case(f"{S} --timeout 0", "timeout must be", fixed=True),
    Case(f"{S} --timeout nan", "argument --timeout: expected a finite number", fixed=True),
    Case(f"{S} --sampler cmaes", "invalid choice: 'cmaes'"),
    Case(f"{S} --pruner wilcoxon", "invalid choice: 'wilcoxon'"),
    Case(f"{S} --objectives params", "the first objective must be accuracy"),
    Case(f"{S} --objectives accuracy,latency", "accuracy followed by any of params, flops"),
    Case(f"{S} --objectives accuracy,params --pruner median", "cannot prune multi-objective"),
    Case(f"{S} --max-params 0", "--max-params must be at least 1"),
    Case(f"{S} --seed -1", "seed must be", fixed=True),
    Case(f"{S} --device tpu", "unknown device 'tpu'"),
    Case(S.replace("--epochs 1", "--epochs 0"), "epochs must be"),
    Case(f"{S} --lr nan", "argument --lr: expected a finite number", fixed=True),
    Case(f"{S} --lr inf", "argument --lr: expected a finite number", fixed=True),
    Case(f"{S} --lr -0.1", "lr must be"),
    Case(f"{S} --batch-size 0", "batch_size must be"),
    Case(f"{S} --report-every 0", "report_every must be"),
    Case(f"{S} --report-images 0", "report_images must be"),
    Case(f"{S} --storage notes.txt", "not an Optuna journal", fixed=True),
    Case(f"{S} --storage storage-dir", "is a directory"),
    Case(f"{S} --storage redis://localhost/0", "unsupported storage URL"),
    Case(f"{S} --storage sqlite:///s.db --workers 2", "SQLite cannot take several writing processes", fixed=True),
    Case(f"{S} --storage sqlite:///foreign.db", "foreign.db"),
    Case(f"{S} --out notes.txt", "notes.txt", fixed=True),
    # ---- worker
    Case("worker --study s1", "required: --storage"),
    Case("worker --study s1 --storage studies/s1/journal.log", "does not exist", fixed=True),
    Case("worker --study s1 --storage sqlite:///missing.db", "does not exist", fixed=True),
    Case("worker --study nope --storage journal.log", "no study 'nope' in that storage"),
    Case("worker --study other --storage journal.log", "was not made by nasproxy search"),
    Case(f"{W} --n-trials -1", "n_trials must be", fixed=True),
    Case(f"{W} --timeout -5", "timeout must be", fixed=True),
    Case(f"{W} --timeout inf", "argument --timeout: expected a finite number", fixed=True),
    Case(f"{W} --worker-index -1", "worker_index must be", fixed=True),
    Case("worker --study other --storage notes.txt", "not an Optuna journal"),
    Case("worker --study other --storage storage-dir", "is a directory"),
    Case(f"{W} --synthetic nowhere", "nowhere does not exist"),
    # ---- score
    Case(SC.replace("archs/good.json", "archs/missing.json"), "does not exist"),
    Case(SC.replace("archs/good.json", "archs"), "is a directory", fixed=True),
    Case(SC.replace("archs/good.json", "notes.txt"), "is not valid JSON"),
    Case(SC.replace("archs/good.json", "archs/binary.json"), "archs/binary.json", fixed=True),
    Case(SC.replace("archs/good.json", "archs/empty.json"), "non-empty JSON list"),
    Case(SC.replace("archs/good.json", "archs/numbers.json"), "are neither spec objects nor spec text"),
    Case(SC.replace("archs/good.json", "archs/object.json"), "non-empty JSON list"),
    Case(SC.replace("archs/good.json", "archs/best-nospec.json"), "spec", fixed=True),
    Case(SC.replace("archs/good.json", "archs/outside.json"), "outside space 'convnet-cpu'"),
    Case(SC.replace("archs/good.json", "archs/specs.csv"), "is not valid JSON"),
    Case(SC.replace("--synthetic syn", "--synthetic art/labels-range"), "labels outside"),
    Case(f"{SC} --lr nan", "argument --lr: expected a finite number", fixed=True),
    Case(f"{SC} --report-images 0", "report_images must be", fixed=True),
    Case(f"{SC} --seed -2", "seed must be", fixed=True),
    # ---- correlate
    Case("correlate --out OUT", "one of the arguments --study --archs --sample is required"),
    Case("correlate --study nope --out OUT", "does not exist", fixed=True),
    Case("correlate --study other --storage journal.log --out OUT", "was not made by nasproxy search"),
    Case("correlate --study nope --storage notes.txt --out OUT", "not an Optuna journal"),
    Case(f"{C} --study s1", "not allowed with argument --sample"),
    Case(C.replace("--space convnet-cpu ", ""), "--sample needs --space"),
    Case(CA.replace("--space convnet-cpu ", ""), "--archs needs --space"),
    Case(CA.replace("archs/good.json", "archs"), "is a directory", fixed=True),
    Case(CA.replace("archs/good.json", "archs/missing.csv"), "does not exist"),
    Case(CA.replace("archs/good.json", "archs/binary.json"), "archs/binary.json", fixed=True),
    Case(CA.replace("archs/good.json", "archs/nospec.csv"), "needs a 'spec' column"),
    Case(CA.replace("archs/good.json", "archs/badspec.csv"), "is outside space"),
    Case(CA.replace("archs/good.json", "archs/acc-150.json"), "accuracy 150"),
    Case(CA.replace("archs/good.json", "archs/acc-text.json"), "accuracy 'high'"),
    Case(CA.replace("archs/good.json", "archs/acc-partial.json"), "or none"),
    Case(CA.replace("archs/good.json", "archs/best-nospec.json"), "spec"),
    Case(CA.replace("archs/good.json", "archs/outside.json"), "outside space 'convnet-cpu'"),
    Case(C.replace("--synthetic syn", "--synthetic"), "name the real data with --dataset"),
    Case(f"{C} --dataset mnist", "a proxy must come from the data it predicts"),
    Case(C.replace("--synthetic syn", "--synthetic syn art/split-seed"), "different data or splits", fixed=False),
    Case(f"{C} --proxies synflow,magic", "unknown proxies magic"),
    Case(f"{C} --full-lr nan", "argument --full-lr: expected a finite number", fixed=True),
    Case(f"{C} --full-lr 0", "lr must be"),
    Case(f"{C} --full-epochs 0", "epochs must be"),
    Case(f"{C} --full-batch-size 0", "batch_size must be"),
    Case(f"{C} --full-images 5", "--full-images must be at least 10"),
    Case(f"{C} --early 0.1,abc", "--early takes comma-separated epochs"),
    Case(f"{C} --early 0.5,9", "strictly between 0 and 2 epochs"),
    Case(f"{C} --early nan", "early"),
    Case(C.replace("--n-archs 3", "--n-archs 0"), "--n-archs must be"),
    Case(f"{C} --workers 0", "workers must be"),
    Case(C.replace("--bootstrap 10", "--bootstrap 0"), "n_boot must be"),
    Case(f"{C} --ceiling -1", "ceiling must be"),
    Case(f"{C} --lr inf", "argument --lr: expected a finite number", fixed=True),
    Case(f"{C} --seed -1", "seed must be", fixed=True),
    Case(C.replace("--out OUT", "--out notes.txt"), "is a file"),
    Case(f"{C} --gt-storage notes.txt", "not an Optuna journal", fixed=True),
    # ---- --proxy-profile (search, score, correlate)
    Case(f"{S} --proxy-profile profiles/missing.toml", "does not exist"),
    Case(f"{S} --proxy-profile profiles", "is a directory"),
    Case(f"{S} --proxy-profile notes.txt", "is not valid TOML"),
    Case(f"{S} --proxy-profile presets/good.toml", "is not a nasproxy proxy profile"),
    Case(f"{S} --proxy-profile profiles/no-format.toml", "is not a nasproxy proxy profile"),
    Case(f"{S} --proxy-profile profiles/newer.toml", "upgrade nasproxy"),
    Case(f"{S} --proxy-profile profiles/top-key.toml", "unknown key seed"),
    Case(f"{S} --proxy-profile profiles/unknown-key.toml", "unknown key proxy.epoch"),
    Case(f"{S} --proxy-profile profiles/wrong-type.toml", "proxy.epochs must be an integer, got 'ten'"),
    Case(f"{S} --proxy-profile profiles/bool-type.toml", "proxy.epochs must be an integer, got True"),
    Case(f"{S} --proxy-profile profiles/nan.toml", "proxy lr must be a finite number, got nan"),
    Case(f"{S} --proxy-profile profiles/zero.toml", "proxy epochs must be at least 1"),
    Case(f"{S} --proxy-profile profiles/calibration-key.toml", "unknown key calibration.accuracy"),
    Case(f"{S} --proxy-profile profiles/calibration-inf.toml", "calibration.heldout_fidelity must be finite"),
    Case(f"{S} --proxy-profile profiles/calibration-type.toml", "calibration.folds must be an integer"),
    Case(f"{SC} --proxy-profile profiles/zero.toml", "proxy epochs must be at least 1"),
    Case(f"{C} --proxy-profile profiles/nan.toml", "proxy lr must be a finite number"),
    # ---- calibrate
    Case("calibrate --space convnet-cpu --synthetic syn --study c1", "one of the arguments --truth --truth-study is required"),
    Case(f"{CAL} --config presets/good.toml", "calibrate reads no --config file yet"),
    Case(f"{CAL} --folds 1", "folds must be at least 2"),
    Case(f"{CAL} --trials 0", "trials must be at least 1"),
    Case(CAL.replace("--epochs-choices 1", "--epochs-choices 0"), "proxy epochs must be at least 1"),
    Case(CAL.replace("--epochs-choices 1", "--epochs-choices ten"), "takes comma-separated integers, got 'ten'"),
    Case(CAL.replace("--epochs-choices 1", "--epochs-choices 1,1"), "distinct values"),
    Case(f"{CAL} --lr-choices 0.01,nan", "takes comma-separated finite numbers, got 'nan'"),
    Case(f"{CAL} --dsa-choices maybe", "takes comma-separated on or off"),
    Case(f"{CAL} --batch-size-choices 0", "proxy batch_size must be at least 1"),
    Case(f"{CAL} --cost-weight -1", "cost_weight must be at least 0"),
    Case(f"{CAL} --cost-weight inf", "argument --cost-weight: expected a finite number"),
    Case(f"{CAL} --metric pearson", "invalid choice: 'pearson'"),
    Case(f"{CAL} --bootstrap 1", "bootstrap must be at least 10"),
    Case(f"{CAL} --seed -1", "seed must be"),
    Case(CAL.replace("archs/truth-8.json", "archs/good.json"), "has no ground truth"),
    Case(CAL.replace("archs/truth-8.json", "archs/truth-2.json"), "holds 2 architectures with ground truth"),
    Case(CAL.replace("archs/truth-8.json", "archs/missing.json"), "does not exist"),
    Case(CAL.replace("archs/truth-8.json", "archs/table-bad.csv"), "test_accuracy or spec is not valid"),
    Case(CAL.replace("archs/truth-8.json", "archs/acc-partial.json"), "or none"),
    Case(CAL.replace("convnet-cpu", "convnet-small"), "outside space 'convnet-small'"),
    Case(CAL.replace("--synthetic syn", "--synthetic nowhere"), "nowhere does not exist"),
    Case(CAL.replace("--synthetic syn", "--synthetic syn syn"), "names a set twice"),
    Case(CAL.replace("--study c1", "--study a/b"), "plain name"),
    Case(f"{CAL} --out notes.txt", "exists and is not a proxy profile"),
    Case(f"{CAL} --out storage-dir", "is a directory"),
    Case(f"{CAL} --storage notes.txt", "not an Optuna journal"),
    Case(CAL.replace("--truth archs/truth-8.json", "--truth-study nope"), "does not exist"),
    Case(CAL.replace("--truth archs/truth-8.json", "--truth-study other --gt-storage journal.log"), "is not a ground-truth study"),
    # ---- dashboard
    Case("dashboard --study nope", "does not exist", fixed=True),
    Case("dashboard --study done --port 99999", "port must be", fixed=True),
    Case("dashboard --study done --port http", "invalid int value: 'http'"),
    Case("dashboard --study nope --storage journal.log", "no study 'nope' in that storage"),
    Case("dashboard --study other --storage notes.txt", "not an Optuna journal"),
    Case("dashboard --study ../x", "plain name"),
    # ---- spaces
    Case("spaces convnet", "unknown search space 'convnet'"),
    Case("spaces spaces/unknown-family.toml", "resnet"),
    # ---- run: presets that are missing, malformed or break a rule of any stage
    Case("run presets/nope.toml", "does not exist"),
    Case("run presets", "is a directory", fixed=True),
    Case("run notes.txt", "not valid TOML"),
    Case("run presets/good.toml --dataset fashion-mnst", "Did you mean 'fashion-mnist'"),
    Case("run presets/good.toml --device tpu", "unknown device 'tpu'"),
    Case("run presets/good.toml --config presets/good.toml", "give the preset once"),
    Case("run", "required: preset (or --config FILE)"),
    # ---- --config FILE.toml of single commands (nas_proxy/configs.py)
    Case(f"{D} --config configs/nope.toml", "--config configs/nope.toml does not exist"),
    Case(f"{D} --config notes.txt", "not valid TOML"),
    Case(f"{D} --config configs", "is a directory"),
    Case("distill --out OUT --config configs/distill-type.toml --dataset digits", "[distill]: ipc must be an integer, got 'ten'"),
    Case(f"{D} --config configs/distill-key.toml", "[distill]: unknown key 'ipcs'"),
    Case(f"{D} --config configs/distill-inf.toml", "image_lr must be a finite number, got inf"),
    Case(f"{D} --config configs/table.toml", "unknown table 'distil'"),
    Case(f"{D} --config configs/top-key.toml", "unknown key 'seed'"),
    Case(f"{E} --config configs/evaluate-nan.toml", "[evaluate.train]: lr must be a finite number, got nan"),
    Case(f"{E} --config configs/evaluate-key.toml", "[evaluate]: unknown key 'epochs'"),
    Case(f"{S} --config configs/proxy-float.toml", "[search.proxy]: epochs must be an integer, got 1.5"),
    Case(f"{S} --config configs/objectives.toml", "objectives must be an array"),
    Case(f"{SC} --config configs/search-seed.toml", "seed must be"),
    Case(f"{W} --config configs/worker-bool.toml", "worker_index must be an integer, got True"),
    Case("dashboard --study done --config configs/port-text.toml", "port must be an integer, got 'http'"),
    Case(f"{C} --config configs/early-nan.toml", "early[1] must be a finite number, got nan"),
    Case(f"{C} --config configs/correlate-key.toml", "[correlate]: unknown key 'split_seed'"),
    Case("spaces --config configs/space-number.toml", "space must be a string, got 5"),
]

# run PRESET: (file stem in tests/bad_inputs_files.PRESETS, needle, fixed)
PRESET_CASES = [
    ("bad-toml", "not valid TOML", False),
    ("top-key", "unknown key 'seed'", False),
    ("section", "unknown table 'evaluate'", False),
    ("distill-key", "[distill]: unknown key 'epochs'", False),
    ("search-key", "[search]: unknown key 'worker'", False),
    ("correlate-key", "[correlate]: unknown key 'full_seed'", False),
    ("old-prefix", "[correlate]: unknown key 'full_epochs'", False),
    ("old-flat-proxy", "[search]: unknown key 'report_every'", False),
    ("proxy-type", "[search.proxy]: dsa must be true or false", False),
    ("proxy-not-table", "proxy must be a table of ProxyConfig keys", False),
    ("correlate-seed", "[correlate]: unknown key 'seed'", False),
    ("name-dotdot", "plain name", True),
    ("name-slash", "plain name", False),
    ("name-number", "plain name", False),
    ("runs-number", "'runs' must be a string", True),
    ("device", "unknown device 'tpu'", False),
    ("ipc-zero", "ipc must be", False),
    ("ipc-text", "ipc must be", True),
    ("dataset", "Did you mean 'fashion-mnist'", False),
    ("val-fraction", "val_fraction must be", True),
    ("lambda", "lambda_mmd must be", True),
    ("method", "unknown distillation method 'dc'", False),
    ("lr-nan", "lr must be", True),
    ("sampler", "unknown sampler 'cmaes'", True),
    ("space", "Did you mean 'convnet-cpu'", True),
    ("no-space", "key 'space' is required", True),
    ("n-trials", "n_trials must be", True),
    ("objectives", "the first objective must be accuracy", True),
    ("objectives-text", "objectives must be an array", False),
    ("workers", "workers must be", True),
    ("timeout", "timeout must be", True),
    ("epochs", "epochs must be", True),
    ("n-archs", "n_archs must be", True),
    ("full-lr", "lr must be", True),
    ("full-early", "strictly between 0 and 2 epochs", False),
    ("bootstrap", "n_boot must be", True),
    ("proxies", "proxies must be", True),
    ("ceiling", "ceiling must be", True),
    ("gt-storage", "gt_storage must be", True),
]
CASES += [Case(f"run presets/{stem}.toml", needle, fixed) for stem, needle, fixed in PRESET_CASES]
CASES += [
    # ---- soft labels: on distill, and on a finished set
    Case(f"{D} --soft-labels -1", "soft-label teachers must be at least 0"),
    Case(f"{D} --soft-labels 2 --teacher-space convnet72", "Did you mean 'convnet720'"),
    Case(f"{D} --soft-labels 2 --teacher-images 0", "teacher images must be at least 1"),
    Case("soft-labels", "the following arguments are required: DIR"),
    Case("soft-labels syn --device cpu --quiet", "soft labels need at least 1 teacher"),
    Case("soft-labels nowhere --soft-labels 2", "nowhere does not exist"),
    Case(f"{SL} --teacher-epochs 0", "teacher epochs must be at least 1"),
    Case(f"{SL} --temperature 0", "temperature must be greater than 0"),
    Case(f"{SL} --temperature nan", "argument --temperature: expected a finite number"),
    Case(f"{SL} --teacher-images 5", "--teacher-images must be at least the 10 classes"),
    Case(f"{SL} --seed -1", "seed must be"),
    Case(f"{SL} --out notes.txt", "notes.txt is a file"),
    Case(f"{SL} --out spaces", "spaces is not empty and holds no soft-labelled copy"),
]


def main_(argv: list[str] | None = None) -> int:
    import shutil
    import tempfile

    from tests import bad_inputs_files

    parser = argparse.ArgumentParser(description="Run every bad input; write the table or list the mishandled ones.")
    parser.add_argument("--write", metavar="FILE", help="write the markdown table here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "work"
        bad_inputs_files.build(workspace)
        pristine = Path(tmp) / "pristine"
        shutil.copytree(workspace, pristine, symlinks=True)
        outcomes = run_all(CASES, workspace, pristine)
    failing = [(c, o, p) for c, o in outcomes if (p := problems(c, o))]
    for case, outcome, found in failing:
        print(
            f"MISHANDLED nasproxy {case.args}\n    {'; '.join(found)}\n    exit {outcome.code}: {outcome.stderr.strip()[:400]}",
            file=sys.stderr,
        )
    if args.write:
        Path(args.write).write_text(table(outcomes))
    print(f"{len(outcomes)} cases, {len(failing)} mishandled", file=sys.stderr)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main_())
