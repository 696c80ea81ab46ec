"""The objective as every worker runs it (:class:`Guarded`): its trial claimed first
(:func:`~nas_proxy.studies.identity.claim`), why it failed recorded on it (:func:`recording_failure`), and the
study stopped, not the trial failed, where the fault is not the candidate's: a file that cannot be written (a
full disk), this process out of memory under its own limit, a database that failed a write (the candidate then
queued again: :mod:`~nas_proxy.studies.requeue`). Around ``study.optimize``, :func:`unmasked` raises the one-line
error that Optuna's own bookkeeping hides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Generic, TypeVar

import optuna
import torch
from optuna.trial import FrozenTrial

from nas_proxy.errors import (
    DivergedError,
    MemoryLimitError,
    NasProxyError,
    address_space_limit,
    address_space_used,
    on_gpu,
    out_of_memory,
    refused_bytes,
)
from nas_proxy.files import FileWriteError
from nas_proxy.studies.identity import claim, release
from nas_proxy.studies.requeue import Requeued, requeued

V = TypeVar("V")


@contextmanager
def recording_failure(trial: optuna.Trial) -> Iterator[None]:
    """Store why a trial's training failed (``fail_reason``) before Optuna marks it FAILED."""
    try:
        yield
    except DivergedError as e:
        trial.set_user_attr("fail_reason", str(e))
        raise
    except torch.cuda.OutOfMemoryError:
        trial.set_user_attr("fail_reason", "out of GPU memory")
        torch.cuda.empty_cache()
        raise
    except Exception as e:  # anything else fails the trial too: say what, instead of "unknown error"
        with suppress(Exception):  # a storage that cannot take it (a full disk) must not hide the error
            # out of memory says so and why (a MemoryError alone read "MemoryError: ", drill42's ulimit -v mid-search)
            trial.set_user_attr("fail_reason", (out_of_memory(e) or f"{type(e).__name__}: {e}")[:500])
        raise


def fail_reason(t: FrozenTrial) -> str:
    """Why trial ``t`` failed, as recorded by the objective or by Optuna."""
    return str(t.user_attrs.get("fail_reason") or t.system_attrs.get("fail_reason", "unknown error"))


def out_of_memory_here(e: BaseException) -> str | None:
    """The one line when this process, not its candidate, ran out of memory; None otherwise (its trial fails and
    the search goes on, as before drill42). This process's: Python's MemoryError (it says no size), or an allocation
    of torch's refused under the process's own limit (``ulimit -v``) that the candidate alone would have made: a
    request of at most half the limit, refused where what the process already held and the request passed the limit.
    A request larger than half the limit is the candidate's (some clusters set RLIMIT_AS for every job: before
    fix42c a candidate too large for the machine stopped the search, was queued again, and failed only at the third
    command); so are CUDA's, one refused below the limit (the machine's), and one whose size is unsaid."""
    line = out_of_memory(e)
    if line is None or isinstance(e, ImportError) or on_gpu(e):
        return None
    if isinstance(e, MemoryError):
        return line
    limit, asked, used = address_space_limit(), refused_bytes(e), address_space_used()
    if limit is None or asked is None or asked > limit // 2:
        return None
    return line if used is None or used + asked > limit else None


class LeftRunning(BaseException):
    """Raised through Optuna's trial loop, which then stores no state: the trial stays RUNNING, and the next
    command, its worker gone, fails it and queues its candidate again (:func:`~nas_proxy.studies.repair.fail_dead_trials`). For a trial
    whose storage failed and took no queued copy either: Optuna's FAIL got in (an update in place) where the
    copy did not (a new row), and the candidate was lost to the sampler (drill43: PostgreSQL's disk full)."""


class Guarded(Generic[V]):
    """An objective as every worker runs it: the trial claimed first and known to run here until the
    objective ends; a file that cannot be written (a full disk), or this process out of memory (its
    ``ulimit -v``; the trial queued again), or a database that failed a write of the trial's (the trial
    queued again, uncounted), stops the study instead of failing this trial and starting the next, and
    :meth:`raise_stop` raises it once ``optimize`` returns. Before drill42 a search under a memory limit
    failed every trial it started, each candidate lost to the sampler."""

    def __init__(self, objective: Callable[[optuna.Trial], V]) -> None:
        self.objective = objective
        self.stopped: NasProxyError | None = None
        self.trial: optuna.Trial | None = None  # the last trial it ran

    def __call__(self, trial: optuna.Trial) -> V:
        self.trial = trial
        try:
            claim(trial)  # first: a survivor can repair this trial from now on
            return self.objective(trial)
        except FileWriteError as e:
            self.stopped = e
            trial.study.stop()
            raise
        except optuna.exceptions.StorageInternalError as e:  # the database failed the trial's write, not its candidate:
            done = requeued(trial, counted=False)  # before, the trial failed and its candidate was lost (drill42 left this)
            self.stopped = storage_lost(e)
            trial.study.stop()
            if done is Requeued.REFUSED:  # the database took no copy either (drill43: its disk full): no FAIL, the next run repairs it
                raise LeftRunning from e
            raise  # (queued, or nothing to queue: no candidate was drawn)
        except Exception as e:
            line = out_of_memory_here(e)
            # this process's memory, not the candidate's: the study stops (its candidate queued, or none drawn yet); with
            # its retries spent it may be the candidate's after all, and where the storage took no copy: it fails, the search goes on
            if line is not None and requeued(trial) not in (Requeued.SPENT, Requeued.REFUSED):
                self.stopped = MemoryLimitError(line)
                trial.study.stop()
            raise
        finally:
            release(trial)

    def raise_stop(self) -> None:
        if self.stopped is not None:
            raise self.stopped

    def taken_over(self) -> bool:
        """Whether the last trial it ran was finished by another worker meanwhile: this process stopped
        beating past the heartbeat's grace period (SIGSTOP, a suspended machine, starved), so a survivor
        failed the trial and re-queued it; the retry trains it."""
        if self.trial is None:
            return False
        storage = self.trial.study._storage  # (Optuna has no public accessor)
        return bool(storage.get_trial(self.trial._trial_id).state.is_finished())


@contextmanager
def unmasked(guarded: Guarded[Any] | None = None) -> Iterator[None]:
    """Around ``study.optimize``: when storing a trial's result fails (a full disk), Optuna's
    ``_run_trial`` (5.1) replaces that error by ``AssertionError("Should not reach.")`` raised in
    its ``finally`` (the trial is still RUNNING); raise the one-line error underneath instead.
    Likewise when ``guarded`` (the objective) stopped on a file it could not write and Optuna's
    bookkeeping of that trial then failed (the brute-force sampler refuses a failed trial whose
    second parameter the full disk kept out of the journal): the full disk is the cause.
    And a KeyboardInterrupt (Ctrl-C, SIGTERM) raised while Optuna stores the trial's state becomes
    ``UnboundLocalError: updated_state`` in the same ``finally`` (seen once, SIGTERM to ``nasproxy run``
    in its ground truth, printed as an internal error): the interruption is raised as it is. So did a
    database that went away while the trial ran (drill40: PostgreSQL stopped for 17 s): that is
    :func:`storage_lost`'s one line.
    A worker whose trial another worker failed and re-queued meanwhile (its heartbeat lapsed: the
    process was stopped, then continued) cannot tell its result (Optuna: "Cannot tell a FAIL trial");
    that is no error: the re-queued copy trains the candidate, and this worker goes on to its next trial
    (before: it ended with an internal error, drill40's SIGSTOP of a worker on PostgreSQL)."""
    try:
        yield
    except LeftRunning:
        if guarded is not None and guarded.stopped is not None:
            raise guarded.stopped from None
        raise
    except UnboundLocalError as e:
        if isinstance(e.__context__, KeyboardInterrupt):
            raise e.__context__ from None
        if isinstance(e.__context__, optuna.exceptions.StorageInternalError):
            raise storage_lost(e.__context__) from None
        raise
    except optuna.exceptions.StorageInternalError as e:
        raise storage_lost(e) from None
    except ValueError as e:
        if _told_too_late(e, guarded):
            return
        raise
    except AssertionError as e:
        if isinstance(e.__context__, NasProxyError):
            raise e.__context__ from None
        if _told_too_late(e.__context__, guarded):  # (an objective that returned: Optuna's finally masks the ValueError so)
            return
        if guarded is not None and guarded.stopped is not None:
            raise guarded.stopped from None
        raise
    except Exception:
        if guarded is not None and guarded.stopped is not None:
            raise guarded.stopped from None
        raise


def storage_lost(e: BaseException) -> NasProxyError:
    """The one-line error of a database storage that failed mid-run (restarted, unreachable): Optuna's
    own message ("invalid data in the commit, e.g. exceeding max length") hides the driver's, its cause."""
    error = e.__cause__ or e
    error = getattr(error, "orig", None) or error  # SQLAlchemy's: the driver's words, without its SQL and parameters
    cause = " ".join(str(error).split())[:300]
    return NasProxyError(
        f"the study's storage failed while a trial was stored: {cause}; finished trials are stored, "
        "and the one running is retried: run the same command again once the database is reachable"
    )


def _told_too_late(e: BaseException | None, guarded: Guarded[Any] | None) -> bool:
    """Whether ``e`` is Optuna's refusal to tell the result of ``guarded``'s trial that another worker
    finished meanwhile (:meth:`Guarded.taken_over`)."""
    return (
        isinstance(e, ValueError)
        and str(e).startswith("Cannot tell a")
        and guarded is not None
        and guarded.stopped is None
        and guarded.taken_over()
    )


__all__ = ["Guarded", "LeftRunning", "fail_reason", "out_of_memory_here", "recording_failure", "storage_lost", "unmasked"]
