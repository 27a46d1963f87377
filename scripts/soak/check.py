#!/usr/bin/env python3
"""The soak's verdict: reads what the run left in its results directory
(the sampler's CSV, `weir load`'s JSON report, the fault clients' tally, the
server's log) and the server's /metrics after the drain, prints one PASS or
FAIL line per check, writes them to checks.json, and exits 1 on any FAIL.

The checks (scripts/soak.sh says how the run is driven):
- rss_flat: the server's RSS after warm-up (the first 20% of the run)
  never exceeds the median of the samples of the next tenth of the run by
  more than 10%. The KV cache was written in full before the run
  (scripts/soak/fill_kv.py), so its pages are resident from the start.
- no_leaked_blocks: after the drain, KV cache usage, running and waiting
  are all 0.
- no_unexpected_errors: 0 failed `weir load` requests, 0 unexpected
  outcomes among the fault clients (a non-200, a stream that ended before
  its planned hang-up, a malformed event), no panic or ERROR line in the
  server's log, /health 200.
- usage_exact: the server's counters against what the clients saw,
  exactly where the clients can know the number: prompt tokens (every
  accepted request's prompt is known: weir load's usage, the fault
  clients' token-id prompts and role-chunk usage), requests finished
  normally, requests aborted. Generated tokens of aborted requests are
  unknowable to a client that left (the server may sample a few more
  before it notices), so that part is checked as a bound: at least what
  the clients received, at most their max_tokens.
"""

import argparse
import csv
import json
import re
import statistics
import sys
import urllib.request

sys.path.insert(0, __import__("os").path.dirname(__file__))
from sample import fetch_metrics, parse_metrics  # noqa: E402

# Terminal colour codes, as tracing writes them.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def load_samples(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        try:
            out.append({k: float(v) for k, v in r.items()})
        except (TypeError, ValueError):
            continue
    return out


def rss_check(samples, run_s, warmup_frac, tolerance):
    """(ok, message, details) of the flat-RSS check over the load's run."""
    if len(samples) < 10:
        return False, f"only {len(samples)} samples", {}
    warmup = warmup_frac * run_s
    after = [s for s in samples if s["t_s"] >= warmup]
    if len(after) < 4:
        return False, f"only {len(after)} samples after warm-up", {}
    # The level just after warm-up: the median of the next tenth of the run
    # (at least three samples).
    head = [s for s in after if s["t_s"] < warmup + 0.1 * run_s]
    head = head if len(head) >= 3 else after[:3]
    base = statistics.median(s["rss_kib"] for s in head)
    peak = max(after, key=lambda s: s["rss_kib"])
    ratio = peak["rss_kib"] / base
    details = {
        "warmup_end_s": warmup,
        "rss_after_warmup_median_kib": base,
        "rss_peak_after_warmup_kib": peak["rss_kib"],
        "rss_peak_at_s": peak["t_s"],
        "rss_first_kib": samples[0]["rss_kib"],
        "rss_last_kib": samples[-1]["rss_kib"],
    }
    msg = (
        f"RSS after warm-up ({warmup:.0f} s): median {base / 1024:.1f} MiB just after, "
        f"peak {peak['rss_kib'] / 1024:.1f} MiB at {peak['t_s']:.0f} s ({(ratio - 1) * 100:+.1f}%, "
        f"limit +{tolerance * 100:.0f}%); first sample {samples[0]['rss_kib'] / 1024:.1f} MiB"
    )
    return ratio <= 1 + tolerance, msg, details


def leak_check(values):
    kv = values.get("vllm:kv_cache_usage_perc")
    running = values.get("vllm:num_requests_running")
    waiting = values.get("vllm:num_requests_waiting")
    ok = kv == 0 and running == 0 and waiting == 0
    return ok, f"after the drain: KV cache usage {kv}, running {running}, waiting {waiting}"


def server_log_problems(path):
    bad = []
    with open(path, errors="replace") as f:
        for line in f:
            line = ANSI.sub("", line)
            if "panicked" in line or " ERROR " in line:
                bad.append(line.strip()[:300])
    return bad


def health(base_url):
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=10) as r:
            return r.status
    except Exception as e:  # an HTTPError (503) or no server at all
        return getattr(e, "code", None) or str(e)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", required=True, help="the run's results directory")
    p.add_argument("--base-url", required=True)
    p.add_argument("--run-seconds", type=float, required=True, help="the load's duration")
    p.add_argument("--warmup-frac", type=float, default=0.2)
    p.add_argument("--rss-tolerance", type=float, default=0.10)
    args = p.parse_args(argv)
    d = args.results
    checks = []

    def check(name, ok, msg, **details):
        checks.append({"check": name, "pass": bool(ok), "message": msg, **details})
        print(f"{'PASS' if ok else 'FAIL'} {name}: {msg}")

    samples = load_samples(f"{d}/samples.csv")
    run = [s for s in samples if s["t_s"] <= args.run_seconds]
    ok, msg, det = rss_check(run, args.run_seconds, args.warmup_frac, args.rss_tolerance)
    check("rss_flat", ok, msg, **det)

    values, success = fetch_metrics(args.base_url)
    ok, msg = leak_check(values)
    # Counters count from the start of the run: the KV fill before it is
    # the soak's own preparation, not client traffic.
    with open(f"{d}/metrics_start.txt") as f:
        start_values, start_success = parse_metrics(f.read())
    for name, v in start_values.items():
        if name.endswith(("_total", "_sum", "_count")) and name in values:
            values[name] -= v
    for reason, v in start_success.items():
        success[reason] = success.get(reason, 0) - v
    check("no_leaked_blocks", ok, msg)

    with open(f"{d}/load.json") as f:
        load = json.load(f)
    with open(f"{d}/faults.json") as f:
        faults = json.load(f)
    runs = load["runs"]
    load_ok = sum(r["requests_ok"] for r in runs)
    load_errors = sum(e["count"] for r in runs for e in r["errors"])
    load_prompt = sum(r["prompt_tokens"] for r in runs)
    load_output = sum(r["output_tokens"] for r in runs)
    log_bad = server_log_problems(f"{d}/server.log")
    status = health(args.base_url)
    ok = (
        load_ok > 0
        and load_errors == 0
        and not load.get("interrupted")
        and faults["unexpected"] == 0
        and not log_bad
        and status == 200
    )
    samples_msg = "; ".join(
        [f"{e['kind']} x{e['count']}: {e['sample']}" for r in runs for e in r["errors"]][:3]
        + faults["unexpected_samples"][:3]
        + log_bad[:3]
    )
    check(
        "no_unexpected_errors",
        ok,
        f"weir load {load_ok} ok / {load_errors} failed; fault clients {faults['sent']} sent, "
        f"{faults['unexpected']} unexpected {faults['by_kind']}; server log {len(log_bad)} "
        f"panic/ERROR lines; /health {status}" + (f" [{samples_msg}]" if samples_msg else ""),
    )

    finished = sum(v for r, v in success.items() if r != "abort")
    aborted = success.get("abort", 0)
    prompt_total = values.get("vllm:prompt_tokens_total", -1)
    req_prompt_sum = values.get("vllm:request_prompt_tokens_sum", -1)
    req_gen_sum = values.get("vllm:request_generation_tokens_sum", -1)
    gen_total = values.get("vllm:generation_tokens_total", -1)
    client_prompt = load_prompt + faults["accepted_prompt_tokens"]
    client_finished = load_ok + faults["completed"]
    completed_gen = load_output + faults["completed_completion_tokens"]
    aborted_gen = req_gen_sum - completed_gen
    parts = [
        ("prompt_tokens_total", prompt_total, client_prompt),
        ("request_prompt_tokens_sum", req_prompt_sum, client_prompt),
        ("requests finished (stop/length/...)", finished, client_finished),
        ("requests aborted", aborted, faults["aborted"]),
    ]
    exact = all(a == b for _, a, b in parts)
    bounded = faults["aborted_received_tokens"] <= aborted_gen <= faults["aborted_max_tokens"]
    sampled_after_end = gen_total - req_gen_sum
    ok = exact and bounded and sampled_after_end >= 0
    msg = "; ".join(f"{n} server {a:.0f} = clients {b:.0f}" if a == b else f"{n} server {a:.0f} != clients {b:.0f}" for n, a, b in parts)
    msg += (
        f"; generated: server {req_gen_sum:.0f} = {completed_gen:.0f} of finished requests "
        f"(weir load {load_output} + stalled readers {faults['completed_completion_tokens']}) "
        f"+ {aborted_gen:.0f} of aborted ones (clients received {faults['aborted_received_tokens']}, "
        f"allowed at most {faults['aborted_max_tokens']}); generation_tokens_total {gen_total:.0f} "
        f"({sampled_after_end:+.0f} sampled after their stream ended)"
    )
    check(
        "usage_exact",
        ok,
        msg,
        load_requests=load_ok,
        load_prompt_tokens=load_prompt,
        load_output_tokens=load_output,
        server_prompt_tokens_total=prompt_total,
        server_generation_tokens_total=gen_total,
        server_request_generation_tokens_sum=req_gen_sum,
        server_success=success,
        faults=faults,
    )
    with open(f"{d}/checks.json", "w") as f:
        json.dump(checks, f, indent=1)
    failed = [c["check"] for c in checks if not c["pass"]]
    print(f"soak: {'FAIL (' + ', '.join(failed) + ')' if failed else 'PASS'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
