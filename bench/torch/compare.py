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
import gzip
import json
import math
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKENDS = ("baton", "gloo")
OPS = ("all_reduce", "broadcast", "all_gather", "send_recv")
MNIST_DIR = "/usr/share/datasets/fashion-mnist"


# ----------------------------------------------------------------- helpers

def parse_size(text):
    text = text.strip()
    mult = 1
    for suffix, m in (("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)):
        if text.upper().endswith(suffix):
            mult, text = m, text[:-1]
            break
    value = int(text) * mult
    if value <= 0:
        raise ValueError("sizes must be positive")
    return value


def size_label(n):
    for unit, m in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= m and n % m == 0:
            return f"{n // m} {unit}"
    return f"{n} B"


def bus_factor(op, n):
    if op.startswith("all_reduce"):
        return 2.0 * (n - 1) / n
    if op == "all_gather":
        return (n - 1) / n
    return 1.0


def point_elements(op, nbytes, n):
    """float32 elements per rank's tensor, and the bytes counted (nccl-tests)."""
    if op == "all_gather":
        count = max(1, nbytes // 4 // n)
        return count, count * 4 * n
    count = max(1, nbytes // 4)
    return count, count * 4


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


# ----------------------------------------------------------------- SGD (the tutorial's chapter 4)

def read_idx(path):
    """An IDX file (gzip or plain) as a uint8 tensor of its dimensions."""
    import torch
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack_from(">HBB", data, 0)
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack_from(">" + "I" * ndim, data, 4)
    offset = 4 + 4 * ndim
    expected = math.prod(dims)
    if len(data) - offset != expected:
        raise ValueError(f"{path}: {len(data) - offset} bytes of data, expected {expected}")
    return torch.frombuffer(bytearray(data[offset:]), dtype=torch.uint8).reshape(dims)


def find_idx(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{directory}/{stem}[.gz] (Debian: apt-get install dataset-fashion-mnist)")


def load_fashion_mnist(directory):
    """Training images as ToTensor() + Normalize((0.1307,), (0.3081,)) would give them."""
    images = read_idx(find_idx(directory, "train-images-idx3-ubyte"))
    labels = read_idx(find_idx(directory, "train-labels-idx1-ubyte")).long()
    x = images.float().div_(255.0).sub_(0.1307).div_(0.3081).unsqueeze(1).contiguous()
    return x, labels


class IdxDataset:
    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


class Partition:
    """The tutorial's Partition: a dataset seen through a list of indexes."""

    def __init__(self, data, index):
        self.data = data
        self.index = index

    def __len__(self):
        return len(self.index)

    def __getitem__(self, index):
        return self.data[self.index[index]]


class DataPartitioner:
    """The tutorial's DataPartitioner: shuffle with a seeded RNG, cut into fractions."""

    def __init__(self, data, sizes=(0.7, 0.2, 0.1), seed=1234):
        self.data = data
        self.partitions = []
        rng = random.Random()
        rng.seed(seed)
        data_len = len(data)
        indexes = list(range(data_len))
        rng.shuffle(indexes)
        for frac in sizes:
            part_len = int(frac * data_len)
            self.partitions.append(indexes[0:part_len])
            indexes = indexes[part_len:]

    def use(self, partition):
        return Partition(self.data, self.partitions[partition])


def make_net():
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        """The tutorial's network (PyTorch's MNIST example)."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
            self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
            self.conv2_drop = nn.Dropout2d()
            self.fc1 = nn.Linear(320, 50)
            self.fc2 = nn.Linear(50, 10)

        def forward(self, x):
            x = F.relu(F.max_pool2d(self.conv1(x), 2))
            x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
            x = x.view(-1, 320)
            x = F.relu(self.fc1(x))
            x = F.dropout(x, training=self.training)
            x = self.fc2(x)
            return F.log_softmax(x, dim=1)

    return Net()


DATA = None  # (images, labels), loaded by the parent before it forks


def sgd_rank(rank, n, backend, port, epochs, threads, out_path):
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    import torch.optim as optim
    torch.set_num_threads(threads)
    import_backend(backend)
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=n)

    timing = {"ag": 0.0, "first": 0.0}

    def average_gradients(model):
        """The tutorial's: all_reduce SUM every gradient, divide by the world size."""
        size = float(dist.get_world_size())
        first = True
        for param in model.parameters():
            t0 = time.perf_counter()
            dist.all_reduce(param.grad.data, op=dist.ReduceOp.SUM)
            if first:
                timing["first"] += time.perf_counter() - t0
                first = False
            param.grad.data /= size

    torch.manual_seed(1234)
    dataset = IdxDataset(*DATA)
    bsz = 128 // n
    partition = DataPartitioner(dataset, [1.0 / n for _ in range(n)]).use(dist.get_rank())
    train_set = torch.utils.data.DataLoader(partition, batch_size=bsz, shuffle=True)
    model = make_net()
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    num_batches = math.ceil(len(train_set.dataset) / float(bsz))
    per_epoch = []
    dist.barrier()
    for epoch in range(epochs):
        timing["ag"] = timing["first"] = 0.0
        epoch_loss = 0.0
        start = time.perf_counter()
        for data, target in train_set:
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            epoch_loss += loss.item()
            loss.backward()
            t0 = time.perf_counter()
            average_gradients(model)
            timing["ag"] += time.perf_counter() - t0
            optimizer.step()
        wall = time.perf_counter() - start
        per_epoch.append({"epoch": epoch, "loss": epoch_loss / num_batches, "wall_s": wall,
                          "ag_s": timing["ag"], "first_s": timing["first"]})
    digest = sum(float(p.detach().double().sum()) for p in model.parameters())
    dist.barrier()
    with open(out_path, "w") as f:
        json.dump({"rank": rank, "epochs": per_epoch, "param_sum": digest, "steps": num_batches}, f)
    dist.destroy_process_group()


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


def median(values):
    return statistics.median(values) if values else None


def fmt_time(us):
    if us is None:
        return "-"
    if us >= 10000:
        return f"{us / 1000:.1f} ms"
    if us >= 100:
        return f"{us:.0f} us"
    return f"{us:.1f} us" if us >= 10 else f"{us:.2f} us"


def fmt_bw(gbps):
    if gbps is None:
        return "-"
    return f"{gbps:.3f}" if gbps < 0.1 else f"{gbps:.2f}"


def fmt_ratio(r):
    if r is None:
        return "-"
    return f"{r:.3f}x" if r < 0.1 else f"{r:.2f}x"


def verdict(value, goal, higher_is_better):
    if value is None:
        return "not measured"
    met = value >= goal if higher_is_better else value <= goal
    if met:
        return "met"
    if higher_is_better:
        return f"**missed** (reaches {value / goal:.0%} of the goal)"
    return f"**missed** ({value / goal:.1f}x over the goal)"


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
        global DATA
        t0 = time.monotonic()
        DATA = load_fashion_mnist(args.data)
        log(f"Fashion-MNIST: {tuple(DATA[0].shape)} images from {args.data} in {time.monotonic() - t0:.1f} s")
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
    sgd_rank(rank, n, backend, port, epochs, threads, f"{prefix}.rank{rank}.json")


def report(raw, args, ranks, sizes, ops, out):
    coll = raw["collectives"]
    targets = []

    def med(backend, n, op, counted):
        return median([r["time_us"] for r in coll if r["backend"] == backend and r["ranks"] == n
                       and r["op"] == op and r["bytes"] == counted])

    def rounds_of(backend, n, op, counted):
        return sorted(r["time_us"] for r in coll if r["backend"] == backend and r["ranks"] == n
                      and r["op"] == op and r["bytes"] == counted)

    def noisy(n, op, counted):
        rows = [r for r in coll if r["ranks"] == n and r["op"] == op and r["bytes"] == counted
                and r.get("busy") is not None]
        return sum(1 for r in rows if r["busy"] >= args.quiet_cpus) if rows else "-"

    if coll:
        out(f"Medians of {args.rounds} interleaved rounds (baton, gloo, baton, gloo...), float32 SUM. "
            "time: per operation (send_recv: one way); busbw in GB/s (1e9 B/s), nccl-tests factors; "
            "time baton/gloo < 1 and busbw baton/gloo > 1: baton ahead.")
        gated = [r for r in coll if r.get("busy") is not None]
        if gated:
            loud = sum(1 for r in gated if r["busy"] >= args.quiet_cpus)
            out(f"Before each measurement the run waited up to {args.quiet_wait:g} s ({args.quiet_budget:g} s per job "
                f"in all) for the rest of the machine "
                f"to keep < {args.quiet_cpus:g} CPUs busy: {len(gated) - loud} of {len(gated)} measurements "
                f"started so; column 'busy starts' counts the rounds of a row (both backends) that did not.")
        out()
        for n in ranks:
            for op in ops:
                out(f"#### {op}, {n} ranks" + (" (oversubscribed: 2 cores)" if n > (os.cpu_count() or 2) else ""))
                out()
                out("| size | baton time | gloo time | baton busbw | gloo busbw | time baton/gloo | busbw baton/gloo | baton rounds (us) | gloo rounds (us) | busy starts |")
                out("|---|---|---|---|---|---|---|---|---|---|")
                worst_bw = None
                for nbytes in sizes:
                    _, counted = point_elements(op, nbytes, n)
                    tb, tg = med("baton", n, op, counted), med("gloo", n, op, counted)
                    bw = [None if t is None else counted / (t * 1e-6) / 1e9 * bus_factor(op, n) for t in (tb, tg)]
                    ratio_t = tb / tg if tb and tg else None
                    ratio_bw = tg / tb if tb and tg else None
                    spread = ["/".join(f"{x:.0f}" if x >= 100 else f"{x:.1f}" for x in rounds_of(b, n, op, counted))
                              for b in BACKENDS]
                    out(f"| {size_label(counted)} | {fmt_time(tb)} | {fmt_time(tg)} | {fmt_bw(bw[0])} | "
                        f"{fmt_bw(bw[1])} | {fmt_ratio(ratio_t)} | {fmt_ratio(ratio_bw)} | {spread[0]} | {spread[1]} | "
                        f"{noisy(n, op, counted)} |")
                    if counted >= (1 << 20) and ratio_bw is not None:
                        if worst_bw is None or ratio_bw < worst_bw[0]:
                            worst_bw = (ratio_bw, counted)
                    if op == "all_reduce" and nbytes == 8 and ratio_t is not None:
                        targets.append((f"{n} ranks: 8 B all_reduce time, baton/gloo", ratio_t, 0.05, False,
                                        f"{fmt_time(tb)} vs {fmt_time(tg)}"))
                if worst_bw is not None:
                    targets.append((f"{n} ranks: {op} busbw baton/gloo, every size >= 1 MiB", worst_bw[0], 3.0, True,
                                    f"worst at {size_label(worst_bw[1])}"))
                out()
        if "all_reduce" in ops and 8 in sizes:
            out("#### 8 B all_reduce: where the time goes (medians of the rounds)")
            out()
            out("| ranks | backend | dist.all_reduce(t) | pg.allreduce([t]).wait() | torch's Python wrapper | baton-bench (C++, same rounds) |")
            out("|---|---|---|---|---|---|")
            for n in [1] + ranks:
                cxx = median([c["time_us"] for c in raw["cxx"] if c["ranks"] == n])
                for b in BACKENDS:
                    full, bare = med(b, n, "all_reduce", 8), med(b, n, "all_reduce_pg", 8)
                    wrapper = full - bare if full is not None and bare is not None else None
                    label = "1 (no communication)" if n == 1 else str(n)
                    out(f"| {label} | {b} | {fmt_time(full)} | {fmt_time(bare)} | {fmt_time(wrapper)} | "
                        f"{fmt_time(cxx) if b == 'baton' else '-'} |")
            out()

    sgd = raw["sgd"]
    if sgd:
        n = args.sgd_ranks
        out(f"#### The tutorial's synchronous SGD, {n} ranks, {args.sgd_epochs} epoch(s) x "
            f"{args.sgd_rounds} round(s) per backend, interleaved")
        out()
        out("Per epoch: wall time and time inside average_gradients of the slowest rank, "
            "medians over rounds and epochs; 'first all_reduce' is the part of average_gradients "
            "spent in each step's first all_reduce (it absorbs the wait for the slower rank).")
        out()
        out("| backend | epoch wall | in average_gradients | of it: first all_reduce | of it: the other 7 all_reduces + divides | steps/epoch | per step in average_gradients |")
        out("|---|---|---|---|---|---|---|")
        med_sgd = {}
        for b in BACKENDS:
            runs = [d for d in sgd if d["backend"] == b]
            if not runs:
                continue
            walls, ags, firsts = [], [], []
            for rnd in sorted({d["round"] for d in runs}):
                rr = [d for d in runs if d["round"] == rnd]
                for e in range(args.sgd_epochs):
                    walls.append(max(d["epochs"][e]["wall_s"] for d in rr))
                    ags.append(max(d["epochs"][e]["ag_s"] for d in rr))
                    firsts.append(max(d["epochs"][e]["first_s"] for d in rr))
            steps = runs[0]["steps"]
            med_sgd[b] = (median(walls), median(ags), median(firsts))
            out(f"| {b} | {median(walls):.2f} s | {median(ags):.3f} s | {median(firsts):.3f} s | "
                f"{median(ags) - median(firsts):.3f} s | {steps} | {median(ags) / steps * 1e3:.3f} ms |")
        out()
        out("Per-epoch mean loss (rank 0 and rank 1; every round):")
        out()
        out("| backend | round | rank | " + " | ".join(f"epoch {e}" for e in range(args.sgd_epochs)) + " | parameter sum |")
        out("|---|---|---|" + "---|" * args.sgd_epochs + "---|")
        for d in sorted(sgd, key=lambda d: (d["round"], BACKENDS.index(d["backend"]), d["rank"])):
            out(f"| {d['backend']} | {d['round']} | {d['rank']} | "
                + " | ".join(repr(e["loss"]) for e in d["epochs"]) + f" | {d['param_sum']!r} |")
        out()
        losses = {}
        for d in sgd:
            losses.setdefault((d["rank"], d["round"]), {})[d["backend"]] = [e["loss"] for e in d["epochs"]]
        pairs = [v for v in losses.values() if len(v) == 2]
        equal = all(v["baton"] == v["gloo"] for v in pairs) if pairs else None
        if "baton" in med_sgd and "gloo" in med_sgd:
            (wb, ab, _), (wg, ag, _) = med_sgd["baton"], med_sgd["gloo"]
            targets.append((f"SGD {n} ranks: time in average_gradients, gloo/baton", ag / ab, 10.0, True,
                            f"{ab:.3f} s vs {ag:.3f} s"))
            targets.append((f"SGD {n} ranks: epoch wall time, baton/gloo", wb / wg, 0.6, False,
                            f"{wb:.2f} s vs {wg:.2f} s"))
        targets.append((f"SGD {n} ranks: per-epoch losses equal to gloo's (bit for bit)",
                        None if equal is None else (1.0 if equal else 0.0), 1.0, True,
                        "equal" if equal else "DIFFERENT" if equal is not None else ""))

    if targets:
        out("#### Targets (issue 12)")
        out()
        out("| target | measured | goal | verdict | detail |")
        out("|---|---|---|---|---|")
        for name, value, goal, higher, detail in targets:
            if "losses" in name:
                out(f"| {name} | {detail} | equal | {'met' if value == 1.0 else '**missed**'} | |")
                continue
            out(f"| {name} | {fmt_ratio(value)} | {'>=' if higher else '<='} {fmt_ratio(goal)} | "
                f"{verdict(value, goal, higher)} | {detail} |")
        out()


if __name__ == "__main__":
    sys.exit(main())
