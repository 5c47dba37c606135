#!/usr/bin/env python3
"""Smoke test of report.py on a tiny fixed CSV (testdata/tiny.csv).

The medians, ratios, table layout and SVG structure are checked against
values worked out by hand from the file; no benchmark runs.
"""

import csv
import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = self.tmp.name
        rc = report.main(["--out", self.out, os.path.join(HERE, "testdata", "tiny.csv")])
        self.assertEqual(rc, 0)

    def tearDown(self):
        self.tmp.cleanup()

    def read(self, name):
        with open(os.path.join(self.out, name)) as f:
            return f.read()

    def table_row(self, op, size):
        tables = self.read("tables.md")
        section = tables.split("### %s, 2 ranks" % op)[1].split("###")[0]
        for line in section.splitlines():
            if line.startswith("| %s |" % size):
                return [c.strip() for c in line.strip("|").split("|")]
        self.fail("no row for %s %s in:\n%s" % (op, size, tables))

    def test_medians_are_over_rounds(self):
        with open(os.path.join(self.out, "medians.csv")) as f:
            rows = {(r["op"], r["backend"], r["transport"], r["bytes"]): r
                    for r in csv.DictReader(f)}
        mib = rows[("all_reduce", "baton", "shm", "1048576")]
        self.assertEqual(mib["rounds"], "3")
        self.assertEqual(mib["time_us"], "120.000")  # median of 100, 120, 500
        # busbw recomputed from the median: 1 MiB / 120 us * 2(n-1)/n.
        self.assertAlmostEqual(float(mib["busbw_GBps"]), 1048576 / 120e-6 / 1e9, places=3)
        even = rows[("send_recv", "baton", "shm", "8")]
        self.assertEqual(even["time_us"], "2.000")  # median of 1 and 3
        self.assertNotIn(("op", "backend", "transport", "bytes"), rows)

    def test_busbw_row_and_ratios(self):
        row = self.table_row("all_reduce", "1 MiB")
        # size, 6 systems, 3 ratios
        self.assertEqual(len(row), 10)
        self.assertEqual(row[1], "8.74")       # Baton shm
        self.assertEqual(row[7], "2.50x")      # vs best OpenMPI shm (single copy off, 300 us)
        self.assertEqual(row[8], "10.00x")     # vs Gloo (1200 us)
        self.assertEqual(row[9], "2.00x")      # Baton tcp vs OpenMPI tcp

    def test_latency_row_and_ratios(self):
        row = self.table_row("all_reduce", "8 B")
        self.assertEqual(row[1], "0.40 us")
        self.assertEqual(row[7], "0.50x")      # best OpenMPI shm 0.20 us against 0.40 us
        self.assertEqual(row[8], "290.00x")
        self.assertEqual(row[9], "2.00x")

    def test_missing_systems_show_a_dash(self):
        row = self.table_row("send_recv", "8 B")
        self.assertEqual(row[7], "0.07x")  # 0.14 us against 2.0 us
        self.assertEqual(row[8], "-")          # no Gloo row
        self.assertEqual(row[9], "-")

    def test_targets(self):
        tables = self.read("tables.md")
        self.assertIn("| all_reduce busbw vs best OpenMPI shm, 1 MiB | 2.50x | 1.50x | met |", tables)
        self.assertIn("| all_reduce busbw vs best OpenMPI shm, 16 MiB | - | 1.50x | not measured |",
                      tables)
        self.assertIn("| all_reduce 8 B latency vs best OpenMPI shm | 0.50x | 1.00x | "
                      "**missed** (50% short) |", tables)
        self.assertIn("| all_reduce busbw vs Gloo, every size >= 64 KiB | 10.00x (worst: 1 MiB) | "
                      "3.00x | met |", tables)
        self.assertIn("| tcp: all_reduce 8 B latency vs OpenMPI tcp (within 2x) | 2.00x | 0.50x | "
                      "met |", tables)

    def test_svg_has_a_line_per_system(self):
        root = ET.fromstring(self.read("all_reduce.svg"))
        ns = "{http://www.w3.org/2000/svg}"
        self.assertEqual(len(root.findall(ns + "polyline")), 6)
        labels = [t.text for t in root.findall(ns + "text")]
        self.assertIn("Gloo tcp", labels)
        self.assertIn("OpenMPI shm, single copy off", labels)
        send_recv = ET.fromstring(self.read("send_recv.svg"))
        self.assertEqual(len(send_recv.findall(ns + "polyline")), 2)


if __name__ == "__main__":
    unittest.main()
