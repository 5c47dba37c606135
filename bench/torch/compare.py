#!/usr/bin/python3
"""torch.distributed with backend="baton" beside "gloo", same machine, same run.

    /usr/bin/python3 bench/torch/compare.py [--ranks 2,4] [--sizes 8,1K,64K,1M,16M,64M]
        [--ops all_reduce,broadcast,all_gather,send_recv] [--rounds 5] [--iters N]
        [--sgd-epochs 1] [--sgd-rounds 2] [--no-collectives] [--no-sgd]
        [--pythonpath DIR] [--build-dir DIR] [--out FILE.md] [--json FILE]

(bench/torch/compare.sh runs it with the build tree's package on the path.)
Issue 12, deliverable 7: a benchmark, not a timed test.

Collectives. One job per rank count (--ranks): torch.multiprocessing starts
the ranks (fork), dist.init_process_group("gloo", init_method=
"tcp://127.0.0.1:<free port>") makes a world that only meets and gathers
timings, and dist.new_group(backend="baton") and dist.new_group(backend=
"gloo") make the two groups measured, both over every rank. Every op and
size, float32 SUM, goes through the public calls a script uses:
dist.all_reduce(t, group=g), dist.broadcast(t, 0, group=g),
dist.all_gather(list, t, group=g), dist.send / dist.recv. Each point is
measured --rounds times, interleaved: baton, gloo, baton, gloo... (so both
see the same moments of a shared machine). One measurement (nccl-tests /
baton-bench conventions):
  - (--quiet-wait) rank 0 waits up to 2 s (--quiet-budget 30 s per job) until the
    rest of the machine keeps < --quiet-cpus CPUs busy; what it last saw is
    kept with the measurement;
  - warm-up clamp(iters / 10, 1, 20) operations, a barrier of the group,
    then a timed loop of iters operations (default clamp(256 MiB / bytes,
    5, 1000)); each rank times its loop, one all_reduce MAX (world group)
    gives the slowest rank's; time per op = that / iters. send_recv: a
    ping-pong between ranks 0 and 1 (the others wait), time = half the
    round trip;
  - bytes: the tensor (all_reduce, broadcast, send_recv); all_gather's whole
    output (n tensors of bytes / n, at least one element each);
  - algbw = bytes / time, busbw = algbw x 2(n-1)/n (all_reduce), (n-1)/n
    (all_gather), 1 (broadcast, send_recv); GB/s = 1e9 bytes/s;
  - a check: exact small integers through one more operation, every element
    compared with its closed form; a failure fails the run.
Before the points, each group runs 8 B all_reduces for 0.3 s (the first
operations on a new group are slow). The median over the rounds of each
point's time is reported. At 8 B the job also times all_reduce as
g.allreduce([t]).wait() (no torch.distributed Python wrapper); a job of one
rank times both on groups where nothing is communicated (the floor that
torch and the binding cost); and, when <build-dir>/bench/baton-bench and
baton-run exist, baton-bench times the same 8 B all_reduce in C++ (--rounds
runs), to split Python's share from Baton's.

SGD. The tutorial's synchronous SGD (its Net, Fashion-MNIST from
/usr/share/datasets/fashion-mnist read with an IDX reader, DataPartitioner
with seed 1234, global batch 128 split over 2 ranks, SGD lr 0.01 momentum
0.5, torch.manual_seed(1234), nll_loss, average_gradients = all_reduce SUM
of every gradient then divide by the world size), 2 ranks, --sgd-epochs
epochs per job, --sgd-rounds jobs per backend interleaved. Each rank times
every epoch and the time inside average_gradients (and, of that, inside the
first all_reduce of each step, which absorbs the wait for the slower rank).
Per-epoch mean losses of both backends are compared exactly.

torch.set_num_threads(--threads, default 1) in every rank: 2 ranks on the
2-core VM, one core each.

Output: markdown tables on stdout (and --out), every round's raw numbers in
--json. Exit status 1 when a job failed or a check failed, 2 on bad options.
"""

import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgd  # noqa: E402  (bench/torch/sgd.py: the tutorial's SGD, timed)
from points import BACKENDS, OPS, parse_size, point_elements  # noqa: E402
from report import report  # noqa: E402
MNIST_DIR = "/usr/share/datasets/fashion-mnist"


# ----------------------------------------------------------------- helpers

def default_iters(nbytes):
    return max(5, min(1000, (256 << 20) // nbytes))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle, sum(fields[:8])


def busy_cores(seconds=0.2):
    """CPUs kept busy (by anything) over the next `seconds`."""
    b0, t0 = cpu_times()
    time.sleep(seconds)
    b1, t1 = cpu_times()
    return (b1 - b0) / max(1, t1 - t0) * (os.cpu_count() or 1)


def wait_quiet(max_wait, threshold):
    """Waits up to max_wait s until the machine is idle; the busy CPUs last seen."""
    start = time.monotonic()
    while True:
        busy = busy_cores()
        if busy < threshold or time.monotonic() - start >= max_wait:
            return busy
        time.sleep(0.3)


def import_backend(backend):
    if backend == "baton":
        import baton_torch  # noqa: F401  registers "baton"


# ----------------------------------------------------------------- collectives (in the ranks)

def coll_rank(rank, n, port, ops, sizes, iters_opt, rounds, threads, quiet, out_path):
    import torch
    import torch.distributed as dist
    torch.set_num_threads(threads)
    import_backend("baton")
    # The world group only meets and reduces the timings; the groups measured
    # are one per backend, both over every rank, made the same way.
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=n)
    world = dist.distributed_c10d._get_default_group()
    groups = {b: dist.new_group(backend=b) for b in BACKENDS}
    results = []
    failures = []

    def slowest(seconds):
        t = torch.tensor([seconds], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=world)
        return float(t.item())

    # Job warm-up, both backends alike: the first ~20 operations on a new
    # group are slow (baton: ~2 ms each for ~50 ms), so each group first runs
    # 8 B all_reduces for 0.3 s.
    for g in groups.values():
        w = torch.ones(2)
        start = time.perf_counter()
        while True:
            dist.all_reduce(w, group=g)
            flag = torch.tensor([1 if time.perf_counter() - start > 0.3 else 0])
            dist.all_reduce(flag, op=dist.ReduceOp.MIN, group=world)
            if flag.item():
                break
        dist.barrier(group=g)

    waited = [0.0]

    def quiet_gate():
        """Rank 0 waits (up to quiet[0] s, quiet[2] s in all) until the machine's
        other work keeps < quiet[1] CPUs busy, while the other ranks sleep in a
        gloo broadcast; the busy CPUs it last saw."""
        if quiet[0] <= 0:
            return None
        busy = 0.0
        if rank == 0:
            started = time.monotonic()
            busy = wait_quiet(min(quiet[0], max(0.0, quiet[2] - waited[0])), quiet[1])
            waited[0] += time.monotonic() - started
        v = torch.tensor([busy], dtype=torch.float64)
        dist.broadcast(v, 0, group=world)
        return float(v.item())

    def make_step(variant, g, t, outs):
        if variant == "all_reduce":
            return lambda: dist.all_reduce(t, group=g)
        if variant == "all_reduce_pg":
            opts = dist.AllreduceOptions()
            opts.reduceOp = dist.ReduceOp.SUM
            tl = [t]
            return lambda: g.allreduce(tl, opts).wait()
        if variant == "broadcast":
            return lambda: dist.broadcast(t, 0, group=g)
        if variant == "all_gather":
            return lambda: dist.all_gather(outs, t, group=g)
        if rank == 0:
            def step():
                dist.send(t, 1, group=g)
                dist.recv(t, 1, group=g)
        elif rank == 1:
            def step():
                dist.recv(t, 0, group=g)
                dist.send(t, 0, group=g)
        else:
            def step():
                pass
        return step

    for op in ops:
        variants = [op]
        if op == "all_reduce":
            variants.append("all_reduce_pg")  # pg.allreduce([t]).wait(), 8 B only
        for variant in variants:
            for nbytes in sizes:
                if variant == "all_reduce_pg" and nbytes != 8:
                    continue
                count, counted = point_elements(op, nbytes, n)
                iters = iters_opt or default_iters(counted)
                warmup = max(1, min(20, iters // 10))
                t = torch.ones(count, dtype=torch.float32)
                outs = [torch.empty(count, dtype=torch.float32) for _ in range(n)]
                for rnd in range(1, rounds + 1):
                    for backend in BACKENDS:  # interleaved: baton, gloo, baton, gloo...
                        g = groups[backend]
                        busy = quiet_gate()
                        step = make_step(variant, g, t, outs)
                        for _ in range(warmup):
                            step()
                        dist.barrier(group=g)
                        start = time.perf_counter()
                        for _ in range(iters):
                            step()
                        elapsed = slowest(time.perf_counter() - start)
                        per_op = elapsed / iters / (2 if variant == "send_recv" else 1)
                        ok = check(variant, rank, n, count, dist, torch, g)
                        if not ok:
                            failures.append(f"{backend} {variant} {counted} B round {rnd} on rank {rank}")
                        results.append({"op": variant, "bytes": counted, "iters": iters, "backend": backend,
                                        "round": rnd, "time_us": per_op * 1e6, "ok": ok, "busy": busy})
    flags = torch.tensor([len(failures)], dtype=torch.int64)
    dist.all_reduce(flags, group=world)
    dist.barrier(group=world)
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump({"results": results, "failed_checks": int(flags.item()),
                       "failures_rank0": failures}, f)
    for g in groups.values():
        dist.destroy_process_group(g)
    dist.destroy_process_group()


def check(variant, rank, n, count, dist, torch, g):
    """One more operation on exact inputs; True when every element is right."""
    if variant.startswith("all_reduce"):
        t = torch.full((count,), float(rank + 1))
        dist.all_reduce(t, group=g)
        return bool(torch.all(t == n * (n + 1) / 2))
    if variant == "broadcast":
        t = torch.full((count,), 7.0 if rank == 0 else -1.0)
        dist.broadcast(t, 0, group=g)
        return bool(torch.all(t == 7.0))
    if variant == "all_gather":
        outs = [torch.full((count,), -1.0) for _ in range(n)]
        dist.all_gather(outs, torch.full((count,), float(rank + 1)), group=g)
        return all(bool(torch.all(o == j + 1)) for j, o in enumerate(outs))
    if variant == "send_recv":
        ok = True
        if rank == 0:
            dist.send(torch.arange(count, dtype=torch.float32).remainder_(1021), 1, group=g)
        elif rank == 1:
            t = torch.full((count,), -1.0)
            dist.recv(t, 0, group=g)
            ok = bool(torch.equal(t, torch.arange(count, dtype=torch.float32).remainder_(1021)))
        dist.barrier(group=g)
        return ok
    return True


# ----------------------------------------------------------------- the parent

def run_job(fn, n, args, log):
    import torch.multiprocessing as mp
    started = time.monotonic()
    try:
        mp.start_processes(fn, args=(n,) + args, nprocs=n, join=True, start_method="fork")
    except Exception as e:  # a rank's traceback (ProcessRaisedException) or exit status
        log(f"job failed: {type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}")
        return False, time.monotonic() - started
    return True, time.monotonic() - started


def run_cxx_ref(args, n, log):
    """baton-bench's 8 B all_reduce in C++ (shared memory), or None."""
    bench = os.path.join(args.build_dir, "bench", "baton-bench")
    runner = os.path.join(args.build_dir, "tools", "baton_run", "baton-run")
    if not (os.access(bench, os.X_OK) and os.access(runner, os.X_OK)):
        return None
    cmd = [runner, "--standalone", "--nproc-per-node", str(n), "--no-prefix", bench,
           "--ops", "all_reduce", "--sizes", "8", "--iters", "1000", "--csv"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    except (subprocess.TimeoutExpired, OSError) as e:
        log(f"baton-bench failed: {e}")
        return None
    for line in out.splitlines():
        f = line.split(",")
        if len(f) == 9 and f[0] == "all_reduce":
            return float(f[6])
    log("baton-bench printed no all_reduce row")
    return None


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ranks", default="2,4")
    p.add_argument("--sizes", default="8,1K,64K,1M,16M,64M")
    p.add_argument("--ops", default=",".join(OPS))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iters", type=int, default=0, help="iterations per point (default: by size)")
    p.add_argument("--sgd-epochs", type=int, default=1)
    p.add_argument("--sgd-rounds", type=int, default=2)
    p.add_argument("--sgd-ranks", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads in every rank")
    p.add_argument("--quiet-wait", type=float, default=2.0,
                   help="before each measurement wait up to this many seconds for the machine's other "
                        "work to go idle (0: do not wait)")
    p.add_argument("--quiet-budget", type=float, default=30.0,
                   help="at most this many seconds of such waiting per job of collectives")
    p.add_argument("--quiet-cpus", type=float, default=0.3,
                   help="idle: the rest of the machine keeps fewer CPUs than this busy")
    p.add_argument("--no-collectives", action="store_true")
    p.add_argument("--no-sgd", action="store_true")
    p.add_argument("--no-cxx", action="store_true", help="skip baton-bench's C++ 8 B reference")
    p.add_argument("--data", default=MNIST_DIR)
    p.add_argument("--pythonpath", default=os.path.join(ROOT, "build", "python"),
                   help="where baton_torch is (default: build/python)")
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build"),
                   help="for baton-bench and baton-run (the C++ reference)")
    p.add_argument("--out", help="also write the tables here")
    p.add_argument("--json", help="write every round's raw numbers here")
    args = p.parse_args()
    try:
        ranks = [int(r) for r in args.ranks.split(",") if r]
        sizes = [parse_size(s) for s in args.sizes.split(",") if s]
        ops = [o for o in args.ops.split(",") if o]
    except ValueError as e:
        p.error(str(e))
    if any(o not in OPS for o in ops) or any(r < 2 for r in ranks) or args.rounds < 1:
        p.error(f"ops from {','.join(OPS)}; ranks >= 2; rounds >= 1")
    if args.pythonpath:
        sys.path.insert(0, args.pythonpath)
        os.environ["PYTHONPATH"] = args.pythonpath + os.pathsep + os.environ.get("PYTHONPATH", "")
    import torch
    import_backend("baton")  # fail early, in the parent, when the package is missing
    import baton_torch

    lines = []
    log_lines = []

    def log(msg):
        stamp = datetime.datetime.utcnow().strftime("%H:%M:%S")
        print(f"compare.py {stamp}: {msg}", file=sys.stderr, flush=True)
        log_lines.append(f"{stamp} {msg}")

    def out(s=""):
        lines.append(s)

    raw = {"started": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
           "argv": sys.argv, "collectives": [], "cxx": [], "sgd": []}
    failed = False
    quiet = (args.quiet_wait, args.quiet_cpus, args.quiet_budget)
    tmp = tempfile.mkdtemp(prefix="baton-torch-bench-")
    so = getattr(baton_torch._C, "__file__", "?")
    log(f"torch {torch.__version__}, baton_torch from {os.path.dirname(baton_torch.__file__)} "
        f"(_C built {datetime.datetime.utcfromtimestamp(os.path.getmtime(so)).isoformat(timespec='seconds')}Z); "
        f"{os.cpu_count()} CPUs, load {' '.join(open('/proc/loadavg').read().split()[:3])}")

    # ---------------- collectives
    if not args.no_collectives:
        for n in ranks:
            path = os.path.join(tmp, f"coll.n{n}.json")
            ok, secs = run_job(coll_rank, n, (free_port(), ops, sizes, args.iters, args.rounds,
                                              args.threads, quiet, path), log)
            if ok and os.path.exists(path):
                with open(path) as f:
                    data = json.load(f)
                if data["failed_checks"]:
                    failed = True
                    log(f"{n} ranks: {data['failed_checks']} failed checks {data['failures_rank0']}")
                for row in data["results"]:
                    row.update(ranks=n)
                    raw["collectives"].append(row)
                log(f"{n} ranks: {len(data['results'])} points in {secs:.1f} s (load {loadavg()})")
            else:
                failed = True
                log(f"{n} ranks: FAILED")
            if 8 in sizes and "all_reduce" in ops and not args.no_cxx:
                for rnd in range(1, args.rounds + 1):
                    us = run_cxx_ref(args, n, log)
                    if us is not None:
                        raw["cxx"].append({"ranks": n, "round": rnd, "time_us": us})
        if 8 in sizes and "all_reduce" in ops:
            # The floor: the same calls on a group of one rank, where neither
            # backend communicates (what torch and the binding cost).
            path = os.path.join(tmp, "coll.n1.json")
            ok, secs = run_job(coll_rank, 1, (free_port(), ["all_reduce"], [8], args.iters, args.rounds,
                                              args.threads, quiet, path), log)
            if ok and os.path.exists(path):
                with open(path) as f:
                    for row in json.load(f)["results"]:
                        row.update(ranks=1)
                        raw["collectives"].append(row)
                log(f"1 rank (floor): {secs:.1f} s")
            else:
                failed = True
                log("1 rank (floor): FAILED")

    # ---------------- SGD
    if not args.no_sgd:
        t0 = time.monotonic()
        sgd.DATA = sgd.load(args.data)
        log(f"Fashion-MNIST: {tuple(sgd.DATA[0].shape)} images from {args.data} in {time.monotonic() - t0:.1f} s")
        n = args.sgd_ranks
        for rnd in range(1, args.sgd_rounds + 1):
            for backend in BACKENDS:
                paths = [os.path.join(tmp, f"sgd.{backend}.r{rnd}.rank{r}.json") for r in range(n)]
                busy = wait_quiet(quiet[0], quiet[1]) if quiet[0] > 0 else None
                ok, secs = run_job(sgd_rank_entry, n, (backend, free_port(), args.sgd_epochs, args.threads,
                                                       os.path.join(tmp, f"sgd.{backend}.r{rnd}")), log)
                if ok and all(os.path.exists(pth) for pth in paths):
                    for r, pth in enumerate(paths):
                        with open(pth) as f:
                            d = json.load(f)
                        d.update(backend=backend, round=rnd, busy_before=busy)
                        raw["sgd"].append(d)
                    e = [d for d in raw["sgd"] if d["backend"] == backend and d["round"] == rnd]
                    log(f"SGD round {rnd}/{args.sgd_rounds}, {backend}: {secs:.1f} s (load {loadavg()}, "
                        f"other work before: {busy if busy is None else round(busy, 2)} CPUs); epoch wall "
                        + ", ".join(f"{max(x['epochs'][i]['wall_s'] for x in e):.2f}"
                                    for i in range(args.sgd_epochs)) + " s")
                else:
                    failed = True
                    log(f"SGD round {rnd}, {backend} FAILED")

    # ---------------- report
    report(raw, args, ranks, sizes, ops, out)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    raw["log"] = log_lines
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)
    return 1 if failed else 0


def sgd_rank_entry(rank, n, backend, port, epochs, threads, prefix):
    import_backend(backend)
    sgd.sgd_rank(rank, n, backend, port, epochs, threads, f"{prefix}.rank{rank}.json")


if __name__ == "__main__":
    sys.exit(main())
