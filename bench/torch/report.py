"""The markdown report of bench/torch/compare.py: per-point tables with
medians and ratios, the 8 B split, the SGD table and the targets.

report() writes through `out` (a function taking one line); the helpers
format times (us/ms/s), bandwidths (GB/s) and ratios.
"""
import os
import statistics

from points import BACKENDS, bus_factor, point_elements, size_label


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


