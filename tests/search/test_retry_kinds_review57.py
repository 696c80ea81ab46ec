"""Two failures stop 56's kinds misread (review57): a library that could not be mapped under ``ulimit -v`` (an
ImportError out_of_memory names) is this process's limit, which the user may raise as the message says, so it is
retried (before: ``out_of_memory``, never retried); and CUDA writes an allocation under 1 KiB as "N bytes", which must
read as the same out-of-memory-that-others-held as "2.00 MiB" does."""

from __future__ import annotations

import pytest
import torch

from nas_proxy.search.retry import ERROR, MEMORY_LIMIT, OUT_OF_MEMORY, RETRIED, SHARED, kind_of


def test_a_library_not_mapped_under_a_memory_limit_is_the_limit_and_is_retried() -> None:
    error = ImportError("libtorch_cuda.so: failed to map segment from shared object")
    assert kind_of(error) == MEMORY_LIMIT and MEMORY_LIMIT in RETRIED
    assert kind_of(ImportError("No module named 'my_family'")) == ERROR  # any other ImportError: an error, as before


def cuda_oom(asked: str) -> torch.cuda.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError(
        f"CUDA out of memory. Tried to allocate {asked}. GPU 0 has a total capacity of 79.10 GiB of which 1.00 MiB is free. "
        "Including non-PyTorch memory, this process has 2.00 GiB memory in use."
    )


@pytest.mark.parametrize("asked", ["512 bytes", "512.00 bytes", "2.00 MiB", "1.50 GiB"])
def test_an_allocation_others_crowded_out_is_shared_whatever_its_unit(asked: str) -> None:
    assert kind_of(cuda_oom(asked)) == SHARED


def test_an_allocation_larger_than_the_gpu_is_the_candidates() -> None:
    assert kind_of(cuda_oom("80.00 GiB")) == OUT_OF_MEMORY
