"""Every operation x dtype x reduce op on backend "baton" equals gloo's result
on the same inputs, in the same run, and the exact closed-form reference
(where torch 1.13's gloo lacks a dtype, an op or AVG, the reference alone).

3 ranks (fork), a gloo world from tcp://, and a baton group over the same
ranks made with dist.new_group(backend="baton"). Also: async operations
(wait in reverse order, is_completed, get_future, then), recv from any
source, batch_isend_irecv, barrier, monitored_barrier.
"""

import sys
import warnings

import torch
import torch.distributed as dist

import baton_torch  # noqa: F401  (registers "baton"; the hook test runs without it)
from harness import (DTYPES, REDUCE_OPS, Checker, free_port, gloo_carries, gloo_supports,
                     make_input, reduce_reference, report, run_ranks, supports)

SIZE = 3
SHAPE = (2, 5)
warnings.filterwarnings("ignore", message=".*all_reduce_coalesced will be deprecated")


def inputs(size, dtype, shape, salt, for_avg=False):
    return [make_input(r, dtype, shape, salt, size, for_avg) for r in range(size)]


def reductions(c, rank, size, baton, dtype, salt):
    for i, (name, op) in enumerate(REDUCE_OPS.items()):
        if not supports(name, dtype):
            continue
        avg = name == "AVG"
        for shape in (SHAPE, (4099,), (0,)) if name == "SUM" else (SHAPE,):
            xs = inputs(size, dtype, shape, salt + i, avg)
            ref = reduce_reference(xs, name, dtype)
            case = f"all_reduce {name} {dtype} {shape}"
            b = xs[rank].clone()
            if i % 2:
                work = dist.all_reduce(b, op=op, group=baton, async_op=True)
                work.wait()
                c.true(case + " is_completed", work.is_completed())
            else:
                dist.all_reduce(b, op=op, group=baton)
            c.equal(case, b, ref)
            if gloo_supports(name, dtype) and shape != (0,):
                g = xs[rank].clone()
                dist.all_reduce(g, op=op)
                c.equal(case + " vs gloo", b, g, gloo=True)

        xs = inputs(size, dtype, SHAPE, salt + 100 + i, avg)
        ref = reduce_reference(xs, name, dtype)
        dst = i % size
        case = f"reduce {name} {dtype} dst {dst}"
        b = xs[rank].clone()
        dist.reduce(b, dst, op=op, group=baton)
        if rank == dst:
            c.equal(case, b, ref)
        if gloo_supports(name, dtype):
            g = xs[rank].clone()
            dist.reduce(g, dst, op=op)
            if rank == dst:
                c.equal(case + " vs gloo", b, g, gloo=True)

        # reduce_scatter: rank r's list entry j is its input for rank j.
        lists = [[make_input(r, dtype, SHAPE, salt + 200 + 10 * i + j, size, avg)
                  for j in range(size)] for r in range(size)]
        ref = reduce_reference([lists[r][rank] for r in range(size)], name, dtype)
        out = torch.empty(SHAPE, dtype=dtype)
        dist.reduce_scatter(out, [t.clone() for t in lists[rank]], op=op, group=baton)
        c.equal(f"reduce_scatter {name} {dtype}", out, ref)
        out = torch.empty(SHAPE, dtype=dtype)
        dist.reduce_scatter_tensor(out, torch.cat(lists[rank]), op=op, group=baton)
        c.equal(f"reduce_scatter_tensor {name} {dtype}", out, ref)

        if name in ("SUM", "MAX"):
            a = inputs(size, dtype, (3,), salt + 300 + i)
            z = inputs(size, dtype, (2, 2), salt + 400 + i)
            refs = [reduce_reference(a, name, dtype), reduce_reference(z, name, dtype)]
            b = [a[rank].clone(), z[rank].clone()]
            dist.all_reduce_coalesced(b, op=op, group=baton)
            c.equal(f"all_reduce_coalesced {name} {dtype} [0]", b[0], refs[0])
            c.equal(f"all_reduce_coalesced {name} {dtype} [1]", b[1], refs[1])
            if gloo_supports(name, dtype):
                g = [a[rank].clone(), z[rank].clone()]
                dist.all_reduce_coalesced(g, op=op)
                c.equal(f"all_reduce_coalesced {name} {dtype} vs gloo", torch.cat([b[0], b[1].flatten()]),
                        torch.cat([g[0], g[1].flatten()]), gloo=True)


def movements(c, rank, size, baton, dtype, salt):
    gloo = gloo_carries(dtype)
    xs = inputs(size, dtype, SHAPE, salt)

    for src in range(size):
        b = xs[rank].clone()
        dist.broadcast(b, src, group=baton)
        c.equal(f"broadcast {dtype} src {src}", b, xs[src])
        if gloo:
            g = xs[rank].clone()
            dist.broadcast(g, src)
            c.equal(f"broadcast {dtype} src {src} vs gloo", b, g, gloo=True)

    outs = [torch.empty(SHAPE, dtype=dtype) for _ in range(size)]
    dist.all_gather(outs, xs[rank], group=baton)
    for r in range(size):
        c.equal(f"all_gather {dtype} [{r}]", outs[r], xs[r])
    if gloo:
        gouts = [torch.empty(SHAPE, dtype=dtype) for _ in range(size)]
        dist.all_gather(gouts, xs[rank])
        c.equal(f"all_gather {dtype} vs gloo", torch.stack(outs), torch.stack(gouts), gloo=True)

    out = torch.empty((size * SHAPE[0], SHAPE[1]), dtype=dtype)
    dist.all_gather_into_tensor(out, xs[rank], group=baton)
    c.equal(f"all_gather_into_tensor {dtype}", out, torch.cat(xs))

    dst = 1 % size
    outs = [torch.empty(SHAPE, dtype=dtype) for _ in range(size)] if rank == dst else None
    dist.gather(xs[rank], outs, dst=dst, group=baton)
    if rank == dst:
        c.equal(f"gather {dtype}", torch.stack(outs), torch.stack(xs))
    if gloo:
        gouts = [torch.empty(SHAPE, dtype=dtype) for _ in range(size)] if rank == dst else None
        dist.gather(xs[rank], gouts, dst=dst)
        if rank == dst:
            c.equal(f"gather {dtype} vs gloo", torch.stack(outs), torch.stack(gouts), gloo=True)

    src = 2 % size
    pieces = inputs(size, dtype, SHAPE, salt + 1)  # src sends pieces[j] to rank j
    out = torch.empty(SHAPE, dtype=dtype)
    dist.scatter(out, [p.clone() for p in pieces] if rank == src else None, src=src, group=baton)
    c.equal(f"scatter {dtype}", out, pieces[rank])
    if gloo:
        gout = torch.empty(SHAPE, dtype=dtype)
        dist.scatter(gout, [p.clone() for p in pieces] if rank == src else None, src=src)
        c.equal(f"scatter {dtype} vs gloo", out, gout, gloo=True)

    # all_to_all_single, uneven: rank r sends split(r, j) rows of 4 to rank j (some zero).
    def split(r, j):
        return (r + 2 * j) % 3

    def block(r, j):  # what rank r sends to rank j
        return make_input(r, dtype, (split(r, j), 4), salt + 50 + j)

    send = torch.cat([block(rank, j) for j in range(size)])
    out = torch.empty((sum(split(j, rank) for j in range(size)), 4), dtype=dtype)
    in_splits = [split(rank, j) for j in range(size)]
    out_splits = [split(j, rank) for j in range(size)]
    dist.all_to_all_single(out, send, out_splits, in_splits, group=baton)
    expect = torch.cat([block(j, rank) for j in range(size)])
    c.equal(f"all_to_all_single uneven {dtype}", out, expect)
    if gloo:
        gout = torch.empty_like(out)
        dist.all_to_all_single(gout, send, out_splits, in_splits)
        c.equal(f"all_to_all_single uneven {dtype} vs gloo", out, gout, gloo=True)
    # equal splits
    send = torch.cat([make_input(rank, dtype, (2, 3), salt + 60 + j) for j in range(size)])
    out = torch.empty_like(send)
    dist.all_to_all_single(out, send, group=baton)
    expect = torch.cat([make_input(j, dtype, (2, 3), salt + 60 + rank) for j in range(size)])
    c.equal(f"all_to_all_single {dtype}", out, expect)
    if gloo:
        gout = torch.empty_like(send)
        dist.all_to_all_single(gout, send)
        c.equal(f"all_to_all_single {dtype} vs gloo", out, gout, gloo=True)

    # all_to_all (lists): rank r's entry j has r + j + 1 elements.
    ins = [make_input(rank, dtype, (rank + j + 1,), salt + 70 + j) for j in range(size)]
    outs = [torch.empty((j + rank + 1,), dtype=dtype) for j in range(size)]
    dist.all_to_all(outs, ins, group=baton)
    for j in range(size):
        c.equal(f"all_to_all {dtype} from {j}", outs[j], make_input(j, dtype, (j + rank + 1,), salt + 70 + rank))

    # point to point: a ring, blocking (rank 0 sends first) and non-blocking.
    nxt, prv = (rank + 1) % size, (rank - 1) % size
    got = torch.empty(SHAPE, dtype=dtype)
    if rank == 0:
        dist.send(xs[rank], nxt, group=baton)
        dist.recv(got, prv, group=baton)
    else:
        dist.recv(got, prv, group=baton)
        dist.send(xs[rank], nxt, group=baton)
    c.equal(f"send/recv ring {dtype}", got, xs[prv])
    got = torch.empty(SHAPE, dtype=dtype)
    reqs = [dist.isend(xs[rank], nxt, group=baton, tag=5), dist.irecv(got, prv, group=baton, tag=5)]
    for req in reqs:
        req.wait()
    c.equal(f"isend/irecv ring {dtype}", got, xs[prv])
    got = torch.empty(SHAPE, dtype=dtype)
    ops = [dist.P2POp(dist.irecv, got, prv, group=baton), dist.P2POp(dist.isend, xs[rank], nxt, group=baton)]
    for req in dist.batch_isend_irecv(ops):
        req.wait()
    c.equal(f"batch_isend_irecv ring {dtype}", got, xs[prv])


def any_source(c, rank, size, baton):
    if rank == 0:
        seen = set()
        for _ in range(size - 1):
            t = torch.empty(3, dtype=torch.int64)
            sender = dist.recv(t, group=baton)  # any source: returns the sender's rank
            c.equal(f"recv any source from {sender}", t, torch.full((3,), 10 * sender))
            seen.add(sender)
        c.true("recv any source saw every rank", seen == set(range(1, size)), str(seen))
    else:
        dist.send(torch.full((3,), 10 * rank), 0, group=baton)


def asynchronous(c, rank, size, baton):
    xs = [torch.full((1000,), float(rank + 1 + k)) for k in range(12)]
    works = [dist.all_reduce(x, group=baton, async_op=True) for x in xs]
    for k in reversed(range(len(works))):
        works[k].wait()
        c.true(f"async {k} is_completed", works[k].is_completed())
        expect = sum(r + 1 + k for r in range(size))
        c.equal(f"async all_reduce {k}", xs[k], torch.full((1000,), float(expect)))
    # get_future: the TensorList of outputs, chained callbacks (they run on Baton's completion thread)
    x = torch.full((5,), float(rank))
    work = dist.all_reduce(x, group=baton, async_op=True)
    fut = work.get_future().then(lambda f: f.value()[0] * 2)
    doubled = fut.wait()
    expect = float(sum(range(size)))
    c.equal("get_future value", work.get_future().value()[0], torch.full((5,), expect))
    c.equal("get_future then", doubled, torch.full((5,), 2 * expect))
    c.true("get_future same object", work.get_future() is not None)
    # a future asked for after completion completes at once
    y = torch.ones(2)
    work = dist.all_reduce(y, group=baton, async_op=True)
    work.wait()
    c.equal("get_future after wait", work.get_future().wait()[0], torch.full((2,), float(size)))
    # async broadcast and all_gather; the Work dropped before wait (the op keeps its tensors)
    b = torch.full((7,), float(rank))
    dist.broadcast(b, 2, group=baton, async_op=True)
    del b
    outs = [torch.empty(4) for _ in range(size)]
    dist.all_gather(outs, torch.full((4,), float(rank)), group=baton, async_op=True).wait()
    for r in range(size):
        c.equal(f"async all_gather [{r}]", outs[r], torch.full((4,), float(r)))


def rank_main(rank, size, port):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size)
    baton = dist.new_group(backend="baton")
    c = Checker(rank)
    c.true("backend name", dist.get_backend(baton) == "baton", dist.get_backend(baton))
    for k, dtype in enumerate(DTYPES):
        reductions(c, rank, size, baton, dtype, 1000 * k)
        movements(c, rank, size, baton, dtype, 1000 * k + 500)
    any_source(c, rank, size, baton)
    asynchronous(c, rank, size, baton)
    dist.barrier(group=baton)
    dist.monitored_barrier(group=baton)
    dist.barrier()
    print(f"rank {rank}: {c.checks} checks, {c.gloo_checks} of them against gloo, "
          f"peers over {baton.transports}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    report("python.ops", run_ranks(rank_main, SIZE, free_port(), start_method="fork"))
    sys.exit(0)
