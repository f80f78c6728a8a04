#!/usr/bin/env python3
"""plot_transport.py — draws bench_transport's figures from results.json.

Usage: plot_transport.py RESULTS.JSON OUT.PNG

One panel per mode (same CPU, any CPU): the median round trip in
microseconds against the payload's size, both on log scales, one line per
contender (ward's transports, the raw socketpair and futex floors,
iceoryx). The data comes from the file alone, so the picture is what the
run measured; gnuplot (Debian's gnuplot-nox) draws it. Exits 0 with a note
when the file has no bench_transport run or gnuplot is missing.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 * 1024}
MODES = [("pinned", "same CPU (pinned to CPU 0)"), ("unpinned", "any CPU (unpinned)")]


def series(run, mode):
    """{contender: [(bytes, median us), ...]} for one mode."""
    out = {}
    for row in run.get("rows", []):
        if row.get("mode") != mode or row.get("median") is None:
            continue
        if not row.get("section", "").startswith("round trip of"):
            continue  # the kernel's part of a payload, timed alone
        m = re.fullmatch(r"(.+), (\d+) (B|KiB|MiB)", row["name"])
        if not m:
            continue
        out.setdefault(m.group(1), []).append((int(m.group(2)) * UNITS[m.group(3)], row["median"]))
    for pts in out.values():
        pts.sort()
    return out


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: plot_transport.py RESULTS.JSON OUT.PNG\n")
        return 2
    src, png = sys.argv[1], sys.argv[2]
    try:
        with open(src) as f:
            run = json.load(f)["benchmarks"]["transport"]
    except (OSError, KeyError, ValueError) as e:
        print(f"plot_transport: no bench_transport figures in {src} ({e}); no plot")
        return 0
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print("plot_transport: gnuplot is not installed (Debian's gnuplot-nox); no plot")
        return 0
    panels = [(label, series(run, key)) for key, label in MODES]
    panels = [(label, s) for label, s in panels if s]
    # One colour per contender in every panel.
    names = sorted({name for _, s in panels for name in s})
    colour = {name: i + 1 for i, name in enumerate(names)}
    with tempfile.TemporaryDirectory() as tmp:
        script = [
            f"set terminal pngcairo size 1200,{480 * len(panels)} font ',10'",
            f"set output '{png}'",
            f"set multiplot layout {len(panels)},1",
            "set logscale xy",
            "set grid",
            "set key top left",
            "set xlabel 'payload (bytes, each way)'",
            "set ylabel 'round trip (us, median)'",
            "set format x '%.0b %BB'",
        ]
        for p, (label, s) in enumerate(panels):
            plots = []
            for i, (name, pts) in enumerate(sorted(s.items())):
                dat = os.path.join(tmp, f"{p}-{i}.dat")
                with open(dat, "w") as f:
                    for x, y in pts:
                        f.write(f"{x} {y}\n")
                plots.append(
                    f"'{dat}' using 1:2 with linespoints lw 2 lt {colour[name]} title '{name}'"
                )
            script.append(
                f"set title 'round trip against payload size, {label}, "
                f"{run.get('backend', '?')} backend, ward {run.get('ward_version', '?')}, "
                f"{run.get('time', '')}'"
            )
            script.append("plot " + ", ".join(plots))
        script.append("unset multiplot")
        gp = os.path.join(tmp, "plot.gp")
        with open(gp, "w") as f:
            f.write("\n".join(script) + "\n")
        subprocess.run([gnuplot, gp], check=True)
    print(f"plot_transport: wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
