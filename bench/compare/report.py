#!/usr/bin/env python3
"""Tables and plots of a side-by-side benchmark run (bench/compare.sh).

    report.py --out DIR raw1.csv [raw2.csv ...]

Reads rows in baton-bench's CSV format
(op,backend,transport,ranks,bytes,iters,time_us,algbw_GBps,busbw_GBps) from
every file; other lines (headers, log output) are skipped. One system is one
(backend, transport) pair; the same (op, system, ranks, bytes) measured in
several rounds is reduced to the median time, and the bandwidths are
recomputed from it (busbw factors as nccl-tests: all_reduce 2(n-1)/n,
all_gather and reduce_scatter (n-1)/n, broadcast and send_recv 1).

Writes into DIR:
  medians.csv  the medians, same columns (iters: of the first round seen),
               plus rounds (how many rows the median is over);
  tables.md    one markdown table per op: time in us below --latency-below
               bytes, busbw in GB/s from there on, and Baton's ratios to the
               anchors (> 1 means Baton is ahead, for times and bandwidths);
               then issue 4's targets, each met, missed or not measured;
  <op>.svg     busbw against size (log2 x axis, log10 y axis), a line per
               system.

Standard library only (the machines that run it have no matplotlib).
"""

import argparse
import csv
import math
import os
import statistics
import sys

COLUMNS = ["op", "backend", "transport", "ranks", "bytes", "iters", "time_us",
           "algbw_GBps", "busbw_GBps"]

# (backend, transport) -> label, in legend and column order.
KNOWN_SYSTEMS = [
    (("baton", "shm"), "Baton shm"),
    (("baton", "tcp"), "Baton tcp"),
    (("openmpi", "shm"), "OpenMPI shm (vader+CMA)"),
    (("openmpi", "shm-nocma"), "OpenMPI shm, single copy off"),
    (("openmpi", "tcp"), "OpenMPI tcp"),
    (("gloo", "tcp"), "Gloo tcp"),
]
OMPI_SHM = [("openmpi", "shm"), ("openmpi", "shm-nocma")]
COLORS = ["#d62728", "#ff7f0e", "#1f77b4", "#17becf", "#2ca02c", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]
OP_ORDER = ["all_reduce", "broadcast", "all_gather", "reduce_scatter", "send_recv"]


def bus_factor(op, ranks):
    n = float(ranks)
    if op == "all_reduce":
        return 2.0 * (n - 1) / n
    if op in ("all_gather", "reduce_scatter"):
        return (n - 1) / n
    return 1.0


def read_rows(paths):
    """Every well-formed data row of the files, as dicts."""
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            for fields in csv.reader(f):
                if len(fields) != len(COLUMNS) or fields[0] == "op":
                    continue
                row = dict(zip(COLUMNS, fields))
                try:
                    row["ranks"] = int(row["ranks"])
                    row["bytes"] = int(row["bytes"])
                    row["iters"] = int(row["iters"])
                    row["time_us"] = float(row["time_us"])
                except ValueError:
                    continue
                rows.append(row)
    return rows


def medians(rows):
    """{(op, backend, transport, ranks, bytes): median row}."""
    groups = {}
    for row in rows:
        key = (row["op"], row["backend"], row["transport"], row["ranks"], row["bytes"])
        groups.setdefault(key, []).append(row)
    out = {}
    for key, group in groups.items():
        op, backend, transport, ranks, nbytes = key
        time_us = statistics.median(r["time_us"] for r in group)
        algbw = nbytes / (time_us * 1e-6) / 1e9 if time_us > 0 else 0.0
        out[key] = {"op": op, "backend": backend, "transport": transport, "ranks": ranks,
                    "bytes": nbytes, "iters": group[0]["iters"], "time_us": time_us,
                    "algbw_GBps": algbw, "busbw_GBps": algbw * bus_factor(op, ranks),
                    "rounds": len(group)}
    return out


def systems_of(points):
    """The systems present, known ones first in KNOWN_SYSTEMS order."""
    present = {(p["backend"], p["transport"]) for p in points.values()}
    ordered = [(s, label) for s, label in KNOWN_SYSTEMS if s in present]
    ordered += [(s, "%s %s" % s) for s in sorted(present) if s not in dict(KNOWN_SYSTEMS)]
    return ordered


def format_size(nbytes):
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= (1 << shift) and nbytes % (1 << shift) == 0:
            return "%d %s" % (nbytes >> shift, unit)
    return "%d B" % nbytes


def ratio(baton, others, latency):
    """How many times better baton is than the best of others (None where missing)."""
    others = [o for o in others if o is not None]
    if baton is None or not others:
        return None
    if latency:
        best = min(o["time_us"] for o in others)
        return best / baton["time_us"] if baton["time_us"] > 0 else None
    best = max(o["busbw_GBps"] for o in others)
    return baton["busbw_GBps"] / best if best > 0 else None


def format_ratio(value):
    return "-" if value is None else "%.2fx" % value


def format_value(point, latency):
    if point is None:
        return "-"
    if latency:
        return "%.2f us" % point["time_us"]
    return "%.2f" % point["busbw_GBps"]


def op_table(op, ranks, points, systems, latency_below):
    """Markdown lines of one op's table."""
    sizes = sorted({k[4] for k in points if k[0] == op and k[3] == ranks})

    def point(system, nbytes):
        return points.get((op, system[0], system[1], ranks, nbytes))

    header = ["size"] + [label for _, label in systems] + [
        "Baton shm / best OpenMPI shm", "Baton shm / Gloo", "Baton tcp / OpenMPI tcp"]
    lines = ["### %s, %d ranks" % (op, ranks), "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for nbytes in sizes:
        latency = nbytes < latency_below
        cells = [format_size(nbytes)]
        cells += [format_value(point(s, nbytes), latency) for s, _ in systems]
        baton_shm = point(("baton", "shm"), nbytes)
        baton_tcp = point(("baton", "tcp"), nbytes)
        cells.append(format_ratio(ratio(baton_shm, [point(s, nbytes) for s in OMPI_SHM], latency)))
        cells.append(format_ratio(ratio(baton_shm, [point(("gloo", "tcp"), nbytes)], latency)))
        cells.append(format_ratio(ratio(baton_tcp, [point(("openmpi", "tcp"), nbytes)], latency)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def target_lines(points):
    """Markdown lines checking issue 4's targets against the medians."""
    mib = 1 << 20

    def pt(op, system, ranks, nbytes):
        return points.get((op, system[0], system[1], ranks, nbytes))

    def vs(op, baton_system, others, ranks, nbytes, latency=False):
        return ratio(pt(op, baton_system, ranks, nbytes),
                     [pt(op, s, ranks, nbytes) for s in others], latency)

    shm, tcp = ("baton", "shm"), ("baton", "tcp")
    gloo, ompi_tcp = ("gloo", "tcp"), ("openmpi", "tcp")
    rows = []

    def add(text, goal, value, where=""):
        if value is None:
            verdict = "not measured"
        elif value >= goal:
            verdict = "met"
        else:
            verdict = "**missed** (%.0f%% short)" % (100.0 * (1.0 - value / goal))
        rows.append("| %s | %s%s | %.2fx | %s |" % (text, format_ratio(value), where, goal, verdict))

    def worst(op, baton_system, others, ranks, sizes, latency=False):
        found = [(vs(op, baton_system, others, ranks, b, latency), b) for b in sizes]
        found = [(v, b) for v, b in found if v is not None]
        if not found:
            return None, ""
        v, b = min(found)
        return v, " (worst: %s)" % format_size(b)

    all_sizes = sorted({k[4] for k in points if k[3] == 2})
    for nbytes, goal in ((mib, 1.5), (16 * mib, 1.5), (64 * mib, 2.0)):
        add("all_reduce busbw vs best OpenMPI shm, %s" % format_size(nbytes), goal,
            vs("all_reduce", shm, OMPI_SHM, 2, nbytes))
    add("all_reduce busbw vs Gloo, every size >= 64 KiB", 3.0,
        *worst("all_reduce", shm, [gloo], 2, [b for b in all_sizes if b >= 64 * 1024]))
    add("all_reduce 8 B latency vs best OpenMPI shm", 1.0,
        vs("all_reduce", shm, OMPI_SHM, 2, 8, True))
    add("tcp: all_reduce busbw vs OpenMPI tcp, every size >= 1 MiB", 1.0,
        *worst("all_reduce", tcp, [ompi_tcp], 2, [b for b in all_sizes if b >= mib]))
    add("tcp: all_reduce 8 B latency vs OpenMPI tcp (within 2x)", 0.5,
        vs("all_reduce", tcp, [ompi_tcp], 2, 8, True))
    for op in ("broadcast", "all_gather"):
        for nbytes in (mib, 16 * mib):
            add("%s busbw vs best OpenMPI shm, %s" % (op, format_size(nbytes)), 1.0,
                vs(op, shm, OMPI_SHM, 2, nbytes))
    for ranks in sorted({k[3] for k in points if k[3] > 2}):
        for op in OP_ORDER:
            sizes = sorted({k[4] for k in points if k[0] == op and k[3] == ranks})
            if sizes:
                add("%d ranks: %s time within 3x of best OpenMPI shm, every size" % (ranks, op),
                    1.0 / 3, *worst(op, shm, OMPI_SHM, ranks, sizes, True))
    return ["## Targets (issue 4)", "",
            "Ratio as in the tables (> 1: Baton ahead); goal: the smallest ratio that meets "
            "the target.", "",
            "| target | ratio | goal | verdict |", "|---|---|---|---|"] + rows + [""]


def write_tables(path, points, latency_below):
    systems = systems_of(points)
    ops = sorted({k[0] for k in points}, key=lambda o: (OP_ORDER.index(o) if o in OP_ORDER else 99, o))
    rounds = sorted({p["rounds"] for p in points.values()})
    lines = ["# Side-by-side benchmark", "",
             "Medians over %s round(s). Sizes below %s: time per operation in us "
             "(send_recv: one way), lower is better. From %s: busbw in GB/s, higher is "
             "better. Ratio columns: how many times better Baton is (> 1: Baton ahead)."
             % ("/".join(str(r) for r in rounds), format_size(latency_below),
                format_size(latency_below)), ""]
    for op in ops:
        for ranks in sorted({k[3] for k in points if k[0] == op}):
            lines += op_table(op, ranks, points, systems, latency_below) + [""]
    lines += target_lines(points)
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_medians(path, points):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS + ["rounds"])
        for key in sorted(points):
            p = points[key]
            writer.writerow([p["op"], p["backend"], p["transport"], p["ranks"], p["bytes"],
                             p["iters"], "%.3f" % p["time_us"], "%.4f" % p["algbw_GBps"],
                             "%.4f" % p["busbw_GBps"], p["rounds"]])


def svg_plot(op, ranks, points, systems):
    """An SVG document: busbw against size, one polyline per system."""
    width, height = 760, 460
    left, right, top, bottom = 70, 230, 40, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    series = []
    for index, (system, label) in enumerate(systems):
        pts = sorted((k[4], p["busbw_GBps"]) for k, p in points.items()
                     if k[0] == op and k[3] == ranks and (k[1], k[2]) == system
                     and p["busbw_GBps"] > 0)
        if pts:
            series.append((label, COLORS[index % len(COLORS)], pts))
    all_pts = [xy for _, _, pts in series for xy in pts]
    if not all_pts:
        return None
    x_lo = math.floor(math.log2(min(x for x, _ in all_pts)))
    x_hi = math.ceil(math.log2(max(x for x, _ in all_pts)))
    y_lo = math.floor(math.log10(min(y for _, y in all_pts)))
    y_hi = math.ceil(math.log10(max(y for _, y in all_pts)))
    x_hi = max(x_hi, x_lo + 1)
    y_hi = max(y_hi, y_lo + 1)

    def sx(x):
        return left + (math.log2(x) - x_lo) / (x_hi - x_lo) * plot_w

    def sy(y):
        return top + plot_h - (math.log10(y) - y_lo) / (y_hi - y_lo) * plot_h

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="15">%s, %d ranks: busbw (GB/s) against size</text>'
           % (left, op, ranks)]
    for e in range(x_lo, x_hi + 1):
        if (e - x_lo) % 2 and x_hi - x_lo > 12:
            continue
        x = sx(2.0 ** e)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>'
                   % (x, top, x, top + plot_h))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (x, top + plot_h + 18, format_size(2 ** e).replace(" ", "")))
    for e in range(y_lo, y_hi + 1):
        y = sy(10.0 ** e)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>'
                   % (left, y, left + plot_w, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>'
                   % (left - 6, y + 4, 10.0 ** e))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>'
               % (left, top, plot_w, plot_h))
    out.append('<text x="%d" y="%d" text-anchor="middle">message size (bytes, log2)</text>'
               % (left + plot_w // 2, height - 15))
    out.append('<text transform="translate(18,%d) rotate(-90)" text-anchor="middle">'
               'busbw GB/s (log10)</text>' % (top + plot_h // 2))
    for index, (label, color, pts) in enumerate(series):
        coords = " ".join("%.1f,%.1f" % (sx(x), sy(y)) for x, y in pts)
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                   % (color, coords))
        for x, y in pts:
            out.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>' % (sx(x), sy(y), color))
        ly = top + 10 + index * 20
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>'
                   % (left + plot_w + 12, ly, left + plot_w + 36, ly, color))
        out.append('<text x="%d" y="%d">%s</text>' % (left + plot_w + 42, ly + 4, label))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_plots(out_dir, points):
    systems = systems_of(points)
    written = []
    for op, ranks in sorted({(k[0], k[3]) for k in points}):
        svg = svg_plot(op, ranks, points, systems)
        if svg is None:
            continue
        name = "%s.svg" % op if len({k[3] for k in points}) == 1 else "%s_%d.svg" % (op, ranks)
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(svg)
        written.append(name)
    return written


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--latency-below", type=int, default=4096,
                        help="sizes below this many bytes are shown as times (default 4096)")
    parser.add_argument("csv", nargs="+", help="raw CSV files")
    args = parser.parse_args(argv)
    points = medians(read_rows(args.csv))
    if not points:
        print("report.py: no data rows in %s" % ", ".join(args.csv), file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    write_medians(os.path.join(args.out, "medians.csv"), points)
    write_tables(os.path.join(args.out, "tables.md"), points, args.latency_below)
    plots = write_plots(args.out, points)
    print("report.py: %d points; wrote %s" % (
        len(points), ", ".join(["medians.csv", "tables.md"] + plots)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
