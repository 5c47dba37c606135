"""Baton as torch.distributed's backend "baton".

Importing this package registers the backend, so that

    import torch.distributed as dist
    dist.init_process_group("baton", rank=rank, world_size=size)   # env://, tcp://, file://
    dist.all_reduce(t)                                              # runs on Baton

works as with "gloo", for CPU tensors; dist.new_group(ranks, backend="baton")
makes Baton subgroups (also inside a gloo world). When the package is
installed, baton_torch.pth imports it as soon as a program imports
torch.distributed, so scripts need not import it themselves.

dist.monitored_barrier is torch's gloo-only function; this package lets it
accept "baton" groups too (it also works as baton_torch.monitored_barrier).

Threading: as torch.distributed. Each process group runs its operations on
Baton's threads; Python callbacks chained to a Work's future run on one
completion thread per group.
"""

import datetime

import torch.distributed as _dist
from torch.distributed import distributed_c10d as _c10d

from ._C import ProcessGroupBaton

__all__ = ["ProcessGroupBaton", "monitored_barrier", "BACKEND"]

BACKEND = "baton"


def _create_process_group(backend_options, pg_options=None):
    """torch's creator function (register_backend with extended_api=True)."""
    if pg_options is not None:
        raise RuntimeError("the baton backend takes no pg_options")
    o = backend_options
    return ProcessGroupBaton(o.store, o.group_rank, o.group_size, o.timeout,
                             str(o.group_id), [int(r) for r in o.global_ranks_in_group])


def _register():
    if BACKEND.upper() in _dist.Backend._plugins:
        return
    _dist.Backend.register_backend(BACKEND, _create_process_group, extended_api=True)


_torch_monitored_barrier = _c10d.monitored_barrier


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """torch.distributed.monitored_barrier, for "baton" groups as well as gloo's.

    Rank 0 waits up to `timeout` for every other rank of the group; a rank that
    does not arrive makes rank 0 raise RuntimeError naming it (every missing
    rank with wait_all_ranks=True), and the others raise when rank 0 does not
    release them.
    """
    if _c10d._rank_not_in_group(group):
        return None
    pg = _c10d._get_default_group() if group is None else group
    if _c10d.get_backend(pg) != BACKEND:
        return _torch_monitored_barrier(group, timeout, wait_all_ranks)
    if timeout is None:
        timeout = _c10d.default_pg_timeout
    if not isinstance(timeout, datetime.timedelta):
        raise TypeError(f"timeout must be a datetime.timedelta, got {type(timeout).__name__}")
    return pg.monitored_barrier(timeout, wait_all_ranks=wait_all_ranks)


monitored_barrier.__wrapped__ = _torch_monitored_barrier

_register()
_c10d.monitored_barrier = monitored_barrier
_dist.monitored_barrier = monitored_barrier
