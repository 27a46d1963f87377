#!/usr/bin/env python3
"""Samples a running weir server every few seconds into a CSV: its resident
memory (/proc/PID/status VmRSS) and the /metrics gauges and counters the
soak checks (KV cache usage, running, waiting, token and request counters).
Runs until SIGTERM or SIGINT; every row is flushed as it is written.
Standard library only.
"""

import argparse
import csv
import signal
import sys
import time
import urllib.request

# CSV column -> Prometheus series (without labels); `success_*` are the
# request_success_total series of each finish reason.
SERIES = {
    "kv_cache_usage": "vllm:kv_cache_usage_perc",
    "running": "vllm:num_requests_running",
    "waiting": "vllm:num_requests_waiting",
    "prompt_tokens_total": "vllm:prompt_tokens_total",
    "generation_tokens_total": "vllm:generation_tokens_total",
    "prefix_cache_hits_total": "vllm:prefix_cache_hits_total",
    "preemptions_total": "vllm:num_preemptions_total",
    "request_prompt_tokens_sum": "vllm:request_prompt_tokens_sum",
    "request_generation_tokens_sum": "vllm:request_generation_tokens_sum",
}
REASONS = ("stop", "length", "abort")
COLUMNS = ["t_s", "rss_kib", *SERIES, *(f"success_{r}" for r in REASONS)]


def parse_metrics(text):
    """{series name: value} for unlabelled-by-us series, and
    {finish reason: count} for request_success_total."""
    values, success = {}, {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            v = float(value)
        except ValueError:
            continue
        if name == "vllm:request_success_total":
            reason = name_labels.split('finished_reason="', 1)[-1].split('"', 1)[0]
            success[reason] = success.get(reason, 0.0) + v
        else:
            values[name] = v
    return values, success


def fetch_metrics(base_url):
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as r:
        return parse_metrics(r.read().decode())


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def row(base_url, pid, t0):
    values, success = fetch_metrics(base_url)
    out = {"t_s": f"{time.monotonic() - t0:.1f}", "rss_kib": rss_kib(pid)}
    for col, series in SERIES.items():
        v = values.get(series, float("nan"))
        out[col] = f"{v:.4f}" if col == "kv_cache_usage" else f"{v:.0f}"
    for r in REASONS:
        out[f"success_{r}"] = f"{success.get(r, 0.0):.0f}"
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True, help="http://HOST:PORT")
    p.add_argument("--pid", type=int, required=True, help="the server's process id")
    p.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--out", required=True, help="CSV file")
    args = p.parse_args(argv)
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    t0 = time.monotonic()
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        next_at = t0
        while not stop:
            try:
                w.writerow(row(args.base_url, args.pid, t0))
                f.flush()
            except (OSError, RuntimeError) as e:
                # A missed sample is a gap in the curve, not the end of it;
                # the server's death shows in the soak's own checks.
                print(f"sample: {e}", file=sys.stderr)
            next_at += args.every
            while not stop and time.monotonic() < next_at:
                time.sleep(min(0.2, max(0.0, next_at - time.monotonic())))


if __name__ == "__main__":
    main(sys.argv[1:])
