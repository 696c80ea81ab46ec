#!/usr/bin/env bash
# make bench-gpu: the prepared GPU check (benchmarks/README.md, "GPU check").
#
#   bash benchmarks/gpu_check.sh [--python PATH] [--dry-run] [gpu_check.py options...]
#
# Results go to $OUT when it is set (the GPU machine sets it), else to benchmarks/out/gpu-<UTC time>.
# Nothing else is read from the environment: the Python is --python, else the repository's .venv
# when there is one, else python3 (the GPU machine's); the wheels in .whl/ are installed into a private folder
# when optuna or optuna-dashboard cannot be imported; Fashion-MNIST comes from .data/fashion-mnist/
# when that folder has the four IDX files. Every line of output is also written to $OUT/gpu_check.log.
set -u
set -o pipefail

STARTED_AT="$(date +%s)"  # the budget (--budget-seconds) counts from here, the wheel install included
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT_DIR="${OUT:-$ROOT/benchmarks/out/gpu-$STAMP}"
mkdir -p "$OUT_DIR" || { echo "[gpu_check] cannot create the output folder $OUT_DIR" >&2; exit 2; }
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
LOG="$OUT_DIR/gpu_check.log"
: >"$LOG"
STOPS="$(mktemp -d -t gpu_check-stops.XXXXXX)" || { echo "[gpu_check] cannot create a temporary folder" >&2; exit 2; }
TEE_PID=""
finish() {  # on exit: tee's last lines written before this script ends
    exec 3>&-
    for _ in $(seq 50); do [ -n "$TEE_PID" ] && kill -0 "$TEE_PID" 2>/dev/null || break; sleep 0.1; done
    rm -rf "$STOPS"
}
trap finish EXIT
# Every line of output, this script's and the driver's (fd 3), goes through one tee to the console and the log. tee
# ignores the stop signals and ends when its input does, so that the driver's report is not lost to a broken pipe;
# this script goes on once tee ignores them (a stop signal sent to the whole group while tee's shell was starting
# would end it, and the driver's output with it).
mkfifo "$STOPS/tee" || { echo "[gpu_check] cannot create a named pipe in $STOPS" >&2; exit 2; }
exec 3> >(trap '' TERM INT HUP; : >"$STOPS/tee"; exec tee -a "$LOG")
TEE_PID=$!
read -r _ <"$STOPS/tee"
say() { echo "[gpu_check] $*" >&3; }

# A stop signal (SIGTERM: a lease's time limit; SIGINT: Ctrl-C; SIGHUP: a closed terminal) is taken from here on,
# before this script's first line: noted in $STOPS/signal for the driver, which reads it once it has its own
# handlers ($STOPS/ready), and passed on to the driver once it runs. The driver so learns of a stop that came
# before it could take one: while this script installed wheels, or while the driver's Python started (a signal
# then ends it by its default action, or is ignored: SIGINT, in a background job). A signal ignored when the
# script started (SIGHUP under nohup) cannot be trapped by bash and stays ignored (nohup's promise).
STOPPED=""  # the first stop signal's name
DRIVER=""
stop() {
    if [ -z "$STOPPED" ]; then
        STOPPED="$1"
        kill -l "$1" >"$STOPS/signal.tmp" && mv "$STOPS/signal.tmp" "$STOPS/signal"  # its number, whole or absent
    fi
    [ -z "$DRIVER" ] || kill -"$1" "$DRIVER" 2>/dev/null  # the same signal: the driver exits 128 + its number
}
for SIG in TERM INT HUP; do trap "stop $SIG" "$SIG"; done

PY=""
DRY=0
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --python) [ $# -ge 2 ] || { say "--python needs a path"; exit 2; }; PY="$2"; shift 2; continue ;;
        --dry-run) DRY=1 ;;
    esac
    ARGS+=("$1")
    shift
done
if [ -z "$PY" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY="$(command -v python3 || true)"; fi
fi
[ -n "$PY" ] && [ -x "$PY" ] || { say "no Python to run: pass --python PATH, or create $ROOT/.venv, or put python3 on PATH (got '$PY')"; exit 2; }

export PYTHONUNBUFFERED=1
export PYTHONPATH="$ROOT"
SITE="/tmp/nasproxy-gpu-site"  # the carried wheels go here, never into the system Python
# found, not imported: importing optuna (SQLAlchemy, Alembic, NumPy) cost 1.7 CPU-s of every call (perf57a); an install
# that is found but breaks on import fails in the sections that import it, with its traceback in the log
FOUND='import importlib.util as u, sys; sys.exit(0 if u.find_spec("optuna") and u.find_spec("optuna_dashboard") else 1)'
if ! "$PY" -c "$FOUND" >/dev/null 2>&1; then
    if ls "$ROOT"/.whl/*.whl >/dev/null 2>&1; then
        say "installing the wheels of $ROOT/.whl into $SITE"
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$ROOT"/.whl/*.whl >&3 2>&1
        export PYTHONPATH="$SITE:$ROOT"
        "$PY" -c "import optuna, optuna_dashboard" >/dev/null 2>&1 || say "optuna or optuna-dashboard still cannot be imported after installing the wheels"
    else
        say "optuna or optuna-dashboard is missing and $ROOT/.whl holds no wheels: sections that import nas_proxy will fail"
    fi
fi

DATA_ARGS=()
FASHION="$ROOT/.data/fashion-mnist"
DEBIAN_FASHION="/usr/share/datasets/fashion-mnist"  # nas_proxy's default place for Fashion-MNIST
if [ -f "$FASHION/train-images-idx3-ubyte.gz" ] && [ -f "$FASHION/t10k-labels-idx1-ubyte.gz" ]; then
    DATA_ARGS=(--data-root "$FASHION")
    # Code that is not given --data-root (the gpu-marked tests, the ground-truth builder) looks in the
    # default place: on a machine without it (the bare GPU machine), link it there when we may.
    if [ "$DRY" = 0 ] && [ ! -e "$DEBIAN_FASHION" ]; then
        if mkdir -p "$(dirname "$DEBIAN_FASHION")" 2>/dev/null && ln -s "$FASHION" "$DEBIAN_FASHION" 2>/dev/null; then
            say "linked $DEBIAN_FASHION -> $FASHION"
        else
            say "could not link $DEBIAN_FASHION (not writable): only code given --data-root finds Fashion-MNIST"
        fi
    fi
fi

COMMAND="bash benchmarks/gpu_check.sh ${ARGS[*]+${ARGS[*]}}"
say "python $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])' 2>&1)), output $OUT_DIR"
# The driver runs in the background so that a stop signal reaches this script's trap, which passes it on: the
# driver then stops its running section (in a process group of its own, which a signal sent to this group
# misses) and still writes its report.
start_driver() {
    local before="$STOPPED"  # noted before it starts: it reads it from $STOPS
    "$PY" "$ROOT/benchmarks/gpu_check.py" --out "$OUT_DIR" --command "$COMMAND" --started-at "$STARTED_AT" --stops "$STOPS" \
        ${DATA_ARGS[@]+"${DATA_ARGS[@]}"} ${ARGS[@]+"${ARGS[@]}"} >&3 2>&1 &
    DRIVER=$!
    [ -n "$before" ] || [ -z "$STOPPED" ] || kill -"$STOPPED" "$DRIVER" 2>/dev/null  # noted as it was started, before $DRIVER was set
}
MAX_RESTARTS=2  # a driver that dies as it starts (a crash, the out-of-memory killer), restarted for ever before stop 54
RESTARTS=0
start_driver
while :; do
    STATUS=0
    wait "$DRIVER" || STATUS=$?
    while kill -0 "$DRIVER" 2>/dev/null; do  # a trapped signal ends `wait` early: wait again for the report
        STATUS=0
        wait "$DRIVER" || STATUS=$?
    done
    # ended by the stop signal before it took one (its Python was starting): once more, to write the report
    if [ -n "$STOPPED" ] && [ ! -e "$STOPS/ready" ] && [ "$STATUS" -gt 128 ]; then
        if [ "$RESTARTS" -ge "$MAX_RESTARTS" ]; then
            say "the driver (benchmarks/gpu_check.py), restarted after SIG$STOPPED to write the report, ended as it started $MAX_RESTARTS times in a row (last: exit status $STATUS); no report written: see $LOG"
            break
        fi
        RESTARTS=$((RESTARTS + 1))
        start_driver
    else
        break
    fi
done
WROTE=$(cd "$OUT_DIR" 2>/dev/null && ls -d results.json gpu_results.md gpu_check.log 2>/dev/null | paste -sd, - | sed 's/,/, /g')
say "exit status $STATUS; results in $OUT_DIR (${WROTE:-nothing written})"  # only what exists: a refused argument leaves the log alone
exit "$STATUS"
