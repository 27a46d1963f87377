#!/usr/bin/env python3
"""Draws a soak run's samples (scripts/soak/sample.py's CSV) for the docs:
an SVG of the server's RSS and KV cache usage over time, the warm-up
marked, with the command, machine and date written on it; and a Markdown
table of the same samples, one row per interval. Standard library only.
"""

import argparse
import csv
import json
import os
import sys
from html import escape

sys.path.insert(0, os.path.dirname(__file__))
from sample import SERIES, parse_metrics  # noqa: E402

W, H = 900, 560
LEFT, RIGHT = 70, 30
PANELS = [(110, 300), (340, 500)]  # (top, bottom) of the RSS and KV panels


def load(path, start_metrics=None):
    """The samples; counters made relative to `start_metrics` (the
    /metrics text read at the start of the run), when given."""
    with open(path) as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    if start_metrics:
        with open(start_metrics) as f:
            values, success = parse_metrics(f.read())
        base = {col: values.get(series, 0.0) for col, series in SERIES.items()}
        base.update({f"success_{r}": v for r, v in success.items()})
        for r in rows:
            for col, v in base.items():
                if col in r and not col.startswith(("kv_", "running", "waiting")):
                    r[col] -= v
    return rows


def nice_step(span, most):
    """The smallest of 1, 2, 5 x 10^k that cuts `span` into at most `most` steps."""
    k = 1.0
    while True:
        for m in (1, 2, 5):
            if span / (m * k) <= most:
                return m * k
        k *= 10


def ticks(lo, hi, step):
    out, v = [], lo
    while v <= hi + 1e-9:
        out.append(v)
        v += step
    return out


def panel(out, rows, key, scale, top, bottom, t_max, y_hi, label, colour, marks, limit=None):
    """One chart: `key` x `scale` over time, 0..y_hi; `marks` are (seconds,
    text) vertical lines; `limit` a (value, text) horizontal line."""
    y_lo = 0
    x = lambda t: LEFT + (W - LEFT - RIGHT) * t / t_max
    y = lambda v: bottom - (bottom - top) * (v - y_lo) / (y_hi - y_lo)
    out.append(f'<rect x="{LEFT}" y="{top}" width="{W - LEFT - RIGHT}" height="{bottom - top}" fill="none" stroke="#888"/>')
    for v in ticks(y_lo, y_hi, nice_step(y_hi - y_lo, 6)):
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for t in ticks(0, t_max, 60 * nice_step(t_max / 60, 10)):
        out.append(f'<text x="{x(t):.1f}" y="{bottom + 16}" text-anchor="middle">{t / 60:g}</text>')
    for at, text in marks:
        out.append(f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{top}" y2="{bottom}" stroke="#c60" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x(at) + 4:.1f}" y="{bottom - 6}" fill="#c60">{escape(text)}</text>')
    if limit:
        v, text = limit
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#b00" stroke-dasharray="6 3"/>')
        out.append(f'<text x="{W - RIGHT - 4}" y="{y(v) - 4:.1f}" text-anchor="end" fill="#b00">{escape(text)}</text>')
    pts = " ".join(f"{x(r['t_s']):.1f},{y(r[key] * scale):.1f}" for r in rows)
    out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
    out.append(f'<text x="{LEFT}" y="{top - 8}" font-weight="bold">{escape(label)}</text>')


def svg(rows, run_s, warmup_frac, caption, rss_base_kib=None):
    t_max = max(run_s, rows[-1]["t_s"])
    rss = [r["rss_kib"] / 1024 for r in rows]
    marks = [(warmup_frac * run_s, "end of warm-up"), (run_s, "drain")]
    limit = None
    if rss_base_kib:
        cap = rss_base_kib * 1.10 / 1024
        limit = (cap, f"limit: +10% over the median just after warm-up ({cap:.0f} MiB)")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
    ]
    for i, line in enumerate(caption):
        out.append(f'<text x="{LEFT}" y="{20 + 16 * i}" font-size="{13 if i == 0 else 11}">{escape(line)}</text>')
    top, bottom = PANELS[0]
    y_hi = max(max(rss), limit[0] if limit else 0) * 1.15
    panel(out, rows, "rss_kib", 1 / 1024, top, bottom, t_max, y_hi,
          "server RSS (MiB)", "#1f5fbf", marks, limit)
    top, bottom = PANELS[1]
    panel(out, rows, "kv_cache_usage", 100, top, bottom, t_max, 100,
          "KV cache usage (%)", "#2a8f3a", marks)
    out.append(f'<text x="{(W + LEFT) / 2}" y="{H - 22}" text-anchor="middle">minutes into the run (drain after {run_s / 60:.0f})</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def table(rows, every_s):
    """Markdown: one row per `every_s` seconds (the sample nearest each mark)."""
    lines = [
        "| minute | RSS MiB | KV cache used | running | waiting | requests done (normal / aborted) | prompt tokens | generated tokens |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    mark = 0.0
    for i, r in enumerate(rows):
        if r["t_s"] + 1e-9 < mark and i != len(rows) - 1:
            continue
        done = r["success_stop"] + r["success_length"]
        lines.append(
            f"| {r['t_s'] / 60:.1f} | {r['rss_kib'] / 1024:.1f} | {r['kv_cache_usage'] * 100:.0f}% | "
            f"{r['running']:.0f} | {r['waiting']:.0f} | {done:,.0f} / {r['success_abort']:,.0f} | "
            f"{r['prompt_tokens_total']:,.0f} | {r['generation_tokens_total']:,.0f} |"
        )
        mark = r["t_s"] + every_s
    return "\n".join(lines) + "\n"


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv")
    p.add_argument("--run-seconds", type=float, required=True)
    p.add_argument("--start-metrics", help="/metrics at the run's start: counters count from there")
    p.add_argument("--warmup-frac", type=float, default=0.2)
    p.add_argument("--caption", action="append", default=[], help="a line written on the figure")
    p.add_argument("--svg", help="write the figure here")
    p.add_argument("--checks", help="check.py's checks.json: draws the RSS limit")
    p.add_argument("--table-every", type=float, default=180.0, help="seconds between table rows")
    args = p.parse_args(argv)
    rows = load(args.csv, args.start_metrics)
    if args.svg:
        base = None
        if args.checks:
            with open(args.checks) as f:
                rss = [c for c in json.load(f) if c["check"] == "rss_flat"]
            base = rss[0].get("rss_after_warmup_median_kib") if rss else None
        with open(args.svg, "w") as f:
            f.write(svg(rows, args.run_seconds, args.warmup_frac, args.caption, base))
    sys.stdout.write(table(rows, args.table_every))


if __name__ == "__main__":
    main(sys.argv[1:])
