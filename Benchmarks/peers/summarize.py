#!/usr/bin/env python3
"""Summarizer for Benchmarks/compare.sh (standard library only).

Subcommands:
  meta [--swift-version S] [--quick] [--rounds N] [--metrics LIST]
      Print one {"kind": "meta", ...} JSON line describing the machine.
  tag --round N --side NAME
      Filter stdin to stdout: keep only lines that are JSON objects with a
      "metric" key, adding "round" and "side".  Everything else (Markdown
      tables, progress text) is dropped.
  report FILE.jsonl [--note TEXT]...
      Group result rows by (metric, impl), take the median of the per-round
      medians and the min-max across rounds, and print a Markdown table
      swift-pebble vs Pebble, a column per standard-library peer
      (multiprocessing.Pool, concurrent.futures process and thread pools), the
      best Python implementation of each row with swift-pebble's ratio to it,
      then a column per other impl (Swift's own peers measured by pebble-bench:
      dispatch, TaskGroup, Task.detached; pebble-spawn), and the load averages
      recorded during the run.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys

SWIFT = "swift-pebble"
PEBBLE = "pebble"
# Standard-library peers measured by peers/pebble_bench.py, in column order.
STDLIB_PEERS = ["mp.Pool", "cf.process", "cf.thread"]
PEER_LABELS = {
    "mp.Pool": "multiprocessing.Pool",
    "cf.process": "ProcessPoolExecutor",
    "cf.thread": "ThreadPoolExecutor",
}
# Short names in the "best Python" column.
BEST_LABELS = {PEBBLE: "Pebble", "mp.Pool": "mp.Pool", "cf.process": "cf.process", "cf.thread": "cf.thread"}
# Every Python implementation a row's "best Python" is chosen from.
PYTHON_IMPLS = [PEBBLE] + STDLIB_PEERS

# Canonical metric order; unknown metrics follow, sorted.
ORDER = [
    "M1", "M1-rss", "M2-process", "M2-thread", "M2-async", "M3", "M3-w4", "M3-usage", "M3-usage/M3", "M4", "M4-w4", "M5a", "M5b",
    "M6a", "M6b", "M7", "M8", "M9", "X1", "X2",
]
LOWER_IS_BETTER = {"ns", "us", "µs", "ms", "s", "kb", "kib", "mb", "mib", "b", "bytes"}
HIGHER_IS_BETTER = {"tasks/s", "items/s", "mb/s", "mib/s", "gb/s", "ops/s", "calls/s"}

DESCRIPTIONS = {
    "M1": "pool created → first result",
    "M1-rss": "RSS of one idle worker",
    "M2-process": "round trip, process pool",
    "M2-thread": "round trip, thread pool",
    "M2-async": "async run round trip, thread pool",
    "M3": "task burst, process pool",
    "M3-w4": "task burst, 4-worker process pool",
    "M3-usage": "task burst, per-task resource usage on",
    "M3-usage/M3": "usage on over off, rounds alternating",
    "M4": "map over ints, chunksize 1000",
    "M4-w4": "map over ints, 4 workers",
    "M5a": "timeout lateness (after 100 ms)",
    "M5b": "timeout → next result",
    "M6a": "os._exit → ProcessExpired",
    "M6b": "ProcessExpired → next result",
    "M7": "cancel running → next result",
    "M8": "10 MB echo (20 MB moved)",
    "M9": "task burst, thread pool",
    "X1": "@process call → result",
    "X2": "@thread call → result",
}


# --------------------------------------------------------------------------
# meta


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def nproc():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def cmd_meta(args):
    meta = {
        "kind": "meta",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": nproc(),
        "cpu": cpu_model(),
        "kernel": os.uname().release,
        "os": platform.system(),
        "swift_version": args.swift_version,
        "quick": args.quick,
        "rounds": args.rounds,
        "metrics": args.metrics,
    }
    print(json.dumps(meta, ensure_ascii=False))
    return 0


# --------------------------------------------------------------------------
# tag


def cmd_tag(args):
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if not isinstance(row, dict):
            continue
        if row.get("kind") != "load" and ("metric" not in row or "impl" not in row):
            continue
        row["round"] = args.round
        row["side"] = args.side
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0


# --------------------------------------------------------------------------
# report


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt(v):
    if v is None:
        return "–"
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v)
    if a >= 100:
        return "{:.0f}".format(v)
    if a >= 10:
        return "{:.1f}".format(v)
    if a >= 1:
        return "{:.2f}".format(v)
    return "{:.3f}".format(v)


def direction(unit):
    u = (unit or "").strip().lower()
    if u in HIGHER_IS_BETTER or u.endswith("/s"):
        return "higher"
    if u in LOWER_IS_BETTER:
        return "lower"
    return None


class Cell:
    def __init__(self):
        self.values = []  # per-round medians
        self.units = set()
        self.errors = []
        self.n = []

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None

    def render(self, show_range):
        if not self.values:
            return "error" if self.errors else "–"
        s = fmt(self.median)
        if show_range and len(self.values) > 1:
            s += " ({}–{})".format(fmt(min(self.values)), fmt(max(self.values)))
        if self.errors:
            s += " ⚠"
        return s


def load(path):
    meta, rows, loads = {}, [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            if obj.get("kind") == "meta":
                meta = obj
            elif obj.get("kind") == "load":
                loads.append(obj)
            elif "metric" in obj and "impl" in obj:
                rows.append(obj)
    meta["loads"] = loads
    return meta, rows


def metric_key(m):
    return (ORDER.index(m), "") if m in ORDER else (len(ORDER), m)


def impl_key(i):
    fixed = {SWIFT: 0, PEBBLE: 1}
    if i in STDLIB_PEERS:
        return (1.5, STDLIB_PEERS.index(i))
    if i in fixed:
        return (fixed[i], i)
    if i.startswith(PEBBLE):
        return (3, i)  # pebble variants (pebble-spawn) after the swift-side extras
    return (2, i)


def cmd_report(args):
    meta, rows = load(args.file)
    cells = {}  # (metric, impl) -> Cell
    for r in rows:
        cell = cells.setdefault((r["metric"], r["impl"]), Cell())
        if r.get("error") or not is_number(r.get("value")):
            cell.errors.append("round {}: {}".format(r.get("round", "?"), r.get("error") or "no value"))
            continue
        cell.values.append(float(r["value"]))
        if r.get("unit"):
            cell.units.add(r["unit"])
        if is_number(r.get("n")):
            cell.n.append(r["n"])

    metrics = sorted({m for m, _ in cells}, key=metric_key)
    impls = sorted({i for _, i in cells}, key=impl_key)
    have_swift = SWIFT in impls
    peers = [i for i in STDLIB_PEERS if i in impls]
    others = [i for i in impls if i not in (SWIFT, PEBBLE) and i not in STDLIB_PEERS]

    pebble_version = next((r.get("pebble") for r in rows if r.get("impl", "").startswith(PEBBLE) and r.get("pebble")), None)
    python_version = next((r.get("python") for r in rows if r.get("impl", "").startswith(PEBBLE) and r.get("python")), None)
    rounds = sorted({r.get("round") for r in rows if r.get("round") is not None})

    out = []
    out.append("## swift-pebble vs Python Pebble and the standard library's pools")
    out.append("")
    out.append("- date: {}".format(meta.get("date", "?")))
    out.append("- machine: {} cores (nproc), {}, Linux kernel {}".format(
        meta.get("nproc", "?"), meta.get("cpu", "?"), meta.get("kernel", "?")))
    out.append("- Python {}, Pebble {}".format(python_version or "?", pebble_version or "?"))
    out.append("- {}".format(meta.get("swift_version") or "swift: ?"))
    out.append("- rounds: {}{}{}".format(
        len(rounds) or meta.get("rounds", "?"),
        ", quick mode" if meta.get("quick") else "",
        ", metrics: " + meta["metrics"] if meta.get("metrics") else ""))
    loads = [l["loadavg"] for l in meta.get("loads", []) if isinstance(l.get("loadavg"), list) and len(l["loadavg"]) == 3]
    if loads:
        one = [l[0] for l in loads]
        five = [l[1] for l in loads]
        out.append("- load average during the run: 1 min {:.2f}–{:.2f}, 5 min {:.2f}–{:.2f} ({} readings, "
                   "at the start and end of each side of each round)".format(min(one), max(one), min(five), max(five), len(loads)))
    for note in args.note or []:
        out.append("- **note**: {}".format(note))
    if not have_swift:
        out.append("- **swift-pebble results missing**: showing the Pebble column only.")
    out.append("")

    pebble_label = "Pebble {}".format(pebble_version) if pebble_version else "Pebble"
    header = ["metric", "unit"]
    if have_swift:
        header.append(SWIFT)
    header.append(pebble_label)
    if have_swift:
        header.append("ratio")
    header += [PEER_LABELS.get(i, i) for i in peers]
    if peers:
        header.append("best Python")
        if have_swift:
            header.append("ratio to best")
    header += others
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|")

    show_range = len(rounds) > 1
    errors = []
    for m in metrics:
        units = set()
        for i in impls:
            c = cells.get((m, i))
            if c:
                units |= c.units
                errors += ["{} / {}: {}".format(m, i, e) for e in c.errors]
        unit_s = " / ".join(sorted(units)) if units else "?"
        row = [m + (" — " + DESCRIPTIONS[m] if m in DESCRIPTIONS else ""), unit_s]
        sw, pb = cells.get((m, SWIFT)), cells.get((m, PEBBLE))
        if have_swift:
            row.append(sw.render(show_range) if sw else "–")
        row.append(pb.render(show_range) if pb else "–")
        if have_swift:
            row.append(ratio_cell(sw, pb, units))
        for i in peers:
            c = cells.get((m, i))
            row.append(c.render(show_range) if c else "–")
        if peers:
            best = best_python(m, cells, units)
            row.append("{} ({})".format(fmt(best[1].median), BEST_LABELS.get(best[0], best[0]))
                       if best else "–")
            if have_swift:
                row.append(ratio_cell(sw, best[1], units) if best else "–")
        for i in others:
            c = cells.get((m, i))
            row.append(c.render(show_range) if c else "–")
        out.append("| " + " | ".join(row) + " |")

    out.append("")
    out.append("Values: median of the per-round medians" +
               (", (min–max) across rounds." if show_range else "."))
    if have_swift:
        out.append("ratio: how many times better swift-pebble is than Pebble "
                   "(Pebble/swift for latencies and sizes, swift/Pebble for throughputs); "
                   ">1 means swift-pebble is better.")
    if peers:
        out.append("best Python: the best of Pebble, multiprocessing.Pool and concurrent.futures on that row "
                   "(fork context, same tasks and counts, same rounds); ratio to best as above. The standard "
                   "library has no per-task timeout, no cancel of a running task and no one-shot decorator, "
                   "so M5–M7 and X1/X2 compare with Pebble only.")
    out.append("M5a: Pebble starts its timeout clock when the worker acknowledges the task; "
               "measured from schedule() minus 100 ms. M6a: schedule → ProcessExpired, no baseline subtracted.")
    if errors:
        out.append("")
        out.append("Errors (⚠):")
        for e in errors:
            out.append("- " + e)
    print("\n".join(out))
    return 0


def best_python(metric, cells, units):
    """(impl, cell) of the best Python implementation of a row, or None."""
    d = direction(next(iter(units)) if len(units) == 1 else None)
    if d is None:
        return None
    found = [(i, cells[(metric, i)]) for i in PYTHON_IMPLS
             if (metric, i) in cells and cells[(metric, i)].median is not None]
    if not found:
        return None
    pick = min if d == "lower" else max
    return pick(found, key=lambda item: item[1].median)


def ratio_cell(sw, pb, units):
    if not sw or not pb or sw.median is None or pb.median is None:
        return "–"
    if len(units) > 1:
        return "unit mismatch"
    d = direction(next(iter(units)) if units else None)
    s, p = sw.median, pb.median
    if d is None:
        return "?"
    if s <= 0 or p <= 0:
        return "n/a"
    r = p / s if d == "lower" else s / p
    return "{:.2f}×".format(r) if r < 10 else "{:.0f}×".format(r)


def main(argv=None):
    ap = argparse.ArgumentParser(description="compare.sh helper")
    sub = ap.add_subparsers(dest="cmd", required=True)

    m = sub.add_parser("meta")
    m.add_argument("--swift-version", default=None)
    m.add_argument("--quick", action="store_true")
    m.add_argument("--rounds", type=int, default=None)
    m.add_argument("--metrics", default=None)
    m.set_defaults(func=cmd_meta)

    t = sub.add_parser("tag")
    t.add_argument("--round", type=int, required=True)
    t.add_argument("--side", required=True)
    t.set_defaults(func=cmd_tag)

    r = sub.add_parser("report")
    r.add_argument("file")
    r.add_argument("--note", action="append")
    r.set_defaults(func=cmd_report)

    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
