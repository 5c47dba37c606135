"""Shared pieces of the Python tests: starting ranks, inputs, references.

Every test script starts its ranks with torch.multiprocessing (fork or
spawn), each rank raises AssertionError naming rank, case, expected and
actual on a wrong value, and the parent exits non-zero when any rank fails
(torch.multiprocessing raises the rank's traceback). Inputs are small
integers, so every dtype (float16 and bfloat16 too) holds every sum and
product exactly and the reduction order does not matter: a result equals
the reference exactly or is wrong.

Threading: none; each rank is one process.
"""

import os
import socket
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

R = dist.ReduceOp
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8,
          torch.uint8, torch.int32, torch.int64, torch.bool]
REDUCE_OPS = {"SUM": R.SUM, "PRODUCT": R.PRODUCT, "MIN": R.MIN, "MAX": R.MAX,
              "AVG": R.AVG, "BAND": R.BAND, "BOR": R.BOR, "BXOR": R.BXOR}
BITWISE = ("BAND", "BOR", "BXOR")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def file_init_method():
    fd, path = tempfile.mkstemp(prefix="baton_py_store_")
    os.close(fd)
    os.unlink(path)  # torch's FileStore makes it
    return "file://" + path


def run_ranks(fn, size, *args, start_method="fork"):
    """Runs fn(rank, size, *args) in `size` processes; raises when one fails."""
    started = time.monotonic()
    mp.start_processes(fn, args=(size,) + args, nprocs=size, join=True, start_method=start_method)
    return time.monotonic() - started


def supports(op_name, dtype):
    if op_name in BITWISE:
        return not dtype.is_floating_point
    if op_name == "AVG":
        return dtype != torch.bool
    return True


def gloo_supports(op_name, dtype):
    """What torch 1.13's gloo reduces (no AVG, no bfloat16, no bool)."""
    return op_name != "AVG" and dtype not in (torch.bfloat16, torch.bool)


def gloo_carries(dtype):
    """What torch 1.13's gloo moves at all."""
    return dtype not in (torch.bfloat16, torch.bool)


def make_input(rank, dtype, shape, salt, size=None, for_avg=False):
    """Rank `rank`'s deterministic input: integers in [-4, 4] ([0, 6] for
    uint8), or booleans. for_avg: the last rank's values make the sum a
    multiple of `size`, so AVG is exact in every dtype."""
    g = torch.Generator().manual_seed(1000003 * (rank + 1) + 7919 * salt)
    numel = 1
    for d in shape:
        numel *= d
    if dtype == torch.bool:
        return (torch.randint(0, 2, (numel,), generator=g) == 1).reshape(shape)
    if for_avg:
        if rank < size - 1:
            v = torch.randint(0, 4, (numel,), generator=g)
        else:
            others = sum(make_input(r, torch.int64, (numel,), salt, size, True) for r in range(size - 1))
            if size == 1:
                others = torch.zeros(numel, dtype=torch.int64)
            target = torch.randint(size, size + 3, (numel,), generator=g)
            v = size * target - others
        return v.to(dtype).reshape(shape)
    lo, hi = (0, 7) if dtype == torch.uint8 else (-4, 5)
    return torch.randint(lo, hi, (numel,), generator=g).to(dtype).reshape(shape)


def reduce_reference(tensors, op_name, dtype):
    """op over the ranks' tensors, computed exactly in int64/float64."""
    n = len(tensors)
    if dtype == torch.bool:
        s = torch.stack(tensors)
        if op_name in ("SUM", "MAX", "BOR"):
            return s.any(0)
        if op_name in ("PRODUCT", "MIN", "BAND"):
            return s.all(0)
        if op_name == "BXOR":
            return (s.to(torch.int64).sum(0) % 2) == 1
        raise ValueError(op_name)
    wide = torch.float64 if dtype.is_floating_point else torch.int64
    s = torch.stack([t.to(wide) for t in tensors])
    if op_name == "SUM":
        out = s.sum(0)
    elif op_name == "PRODUCT":
        out = s.prod(0)
    elif op_name == "MIN":
        out = s.amin(0)
    elif op_name == "MAX":
        out = s.amax(0)
    elif op_name == "AVG":
        out = s.sum(0) / n if dtype.is_floating_point else torch.div(s.sum(0), n, rounding_mode="trunc")
    else:
        out = s[0].clone()
        for t in s[1:]:
            out = {"BAND": torch.bitwise_and, "BOR": torch.bitwise_or,
                   "BXOR": torch.bitwise_xor}[op_name](out, t)
    return out.to(dtype)


class Checker:
    """Counts checks; fails naming rank, case, expected and actual."""

    def __init__(self, rank):
        self.rank = rank
        self.checks = 0
        self.gloo_checks = 0

    def equal(self, case, actual, expected, gloo=False):
        self.checks += 1
        if gloo:
            self.gloo_checks += 1
        if actual.dtype != expected.dtype or actual.shape != expected.shape or not torch.equal(actual, expected):
            raise AssertionError(f"rank {self.rank}: {case}: expected {expected!r}, got {actual!r}")

    def true(self, case, condition, detail=""):
        self.checks += 1
        if not condition:
            raise AssertionError(f"rank {self.rank}: {case}: {detail}")

    def raises(self, case, fn, *needles):
        """fn() must raise RuntimeError whose message holds every needle."""
        self.checks += 1
        try:
            fn()
        except RuntimeError as e:
            message = str(e)
            for needle in needles:
                if needle not in message:
                    raise AssertionError(f"rank {self.rank}: {case}: the error does not say "
                                         f"{needle!r}: {message}") from e
            return message
        raise AssertionError(f"rank {self.rank}: {case}: no exception")


def report(name, elapsed):
    print(f"{name}: ok in {elapsed:.1f} s", flush=True)
    sys.stdout.flush()
