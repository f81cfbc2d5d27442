#!/usr/bin/env python3
"""The endurance run's sampler and report (benches/soak.sh), Python 3 standard library only.

sample: every INTERVAL seconds, one CSV row for the server process PID:
  t           seconds since the sampler started
  rss_kib     VmRSS (/proc/PID/status)
  fds         open file descriptors (/proc/PID/fd)
  threads     Threads (/proc/PID/status)
  cpu_pct     CPU since the previous sample, % of one core (/proc/PID/stat utime + stime)
  rtp_sockets the process's UDP sockets bound in [RTP_MIN, RTP_MAX] (/proc/PID/fd matched to
              /proc/net/udp by inode): two per anchored call, one per voicemail session
  transactions, relays
              from METRICS_URL (Prometheus text): the sum of the gauges whose name contains
              "transaction" (resp. "relay" or "rtp_sessions": onestatus_sip_transactions and
              onestatus_rtp_sessions, which counts IVR sessions and call relays), or the series
              named by TXN_SERIES / RELAY_SERIES
              (comma-separated); empty when the server exposes no such series (the sampler
              takes what exists and never fails on a missing series)
  calls       sum of onestatus_calls_total (ended calls), when exposed
Stops after UNTIL seconds, or when the process is gone.

report: the flatness check and the plot. For every series with data, the Theil-Sen slope
after WARMUP seconds and up to --end (the end of the load: the samples after it show the
wind-down and are plotted, not judged), as growth over that span relative to the series' mean there; a series is
flat when that growth is within TOL (default 5 %) or within a small absolute slack (1 MiB of
RSS, 5 descriptors/sockets/transactions/relays: noise of calls coming and going). Prints one
line (the verdict and each series' growth) and writes an SVG of every series against time, the
warm-up marked. Exit status 0 either way: the row carries the verdict.

SIPp's statistics file (-trace_stat) gives the failed and successful calls: `report` reads its
last line when --sipp-stat names it.

Usage: soak.py sample PID METRICS_URL RTP_MIN RTP_MAX INTERVAL UNTIL OUT.csv
       soak.py report SAMPLES.csv WARMUP OUT.svg [--end SECONDS] [--sipp-stat FILE] [--title TEXT]
"""

import csv
import html
import os
import sys
import time
import urllib.request

FIELDS = [
    "t", "rss_kib", "fds", "threads", "cpu_pct", "rtp_sockets", "transactions", "relays", "calls",
]
# Growth below these is noise of calls coming and going (RSS in KiB, CPU in % of a core).
SLACK = {"rss_kib": 1024, "cpu_pct": 5}
DEFAULT_SLACK = 5


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udp_ports_by_inode():
    ports = {}
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    ports[cols[9]] = int(cols[1].rsplit(":", 1)[1], 16)
        except OSError:
            pass
    return ports


def fds_and_rtp(pid, rtp_min, rtp_max):
    ports = udp_ports_by_inode()
    fds = rtp = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        fds += 1
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            port = ports.get(target[8:-1])
            if port is not None and rtp_min <= port <= rtp_max:
                rtp += 1
    return fds, rtp


def metrics(url):
    """{series name: summed value} of a Prometheus text page; {} when it cannot be read."""
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            text = r.read().decode()
    except (OSError, ValueError):
        return {}
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            pass
    return out


def pick(series, env, words):
    """The summed value of the named series (env, comma-separated) or of the gauges whose name
    contains one of `words`; '' when none is exposed."""
    names = [n for n in os.environ.get(env, "").split(",") if n]
    if not names:
        names = [
            n for n in series
            if any(w in n for w in words)
            and not n.endswith(("_total", "_created", "_bucket", "_sum", "_count"))
        ]
    found = [series[n] for n in names if n in series]
    return f"{sum(found):g}" if found else ""


def sample(pid, url, rtp_min, rtp_max, interval, until, out):
    start = time.monotonic()
    last = None
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        while time.monotonic() - start <= until:
            try:
                status = proc_status(pid)
                fds, rtp = fds_and_rtp(pid, rtp_min, rtp_max)
                now, cpu = time.monotonic(), cpu_seconds(pid)
            except OSError:
                break  # the server is gone
            cpu_pct = "" if last is None else f"{100 * (cpu - last[1]) / (now - last[0]):.1f}"
            last = (now, cpu)
            series = metrics(url)
            calls = [v for n, v in series.items() if n == "onestatus_calls_total"]
            w.writerow([
                f"{time.monotonic() - start:.1f}", status.get("VmRSS", ""), fds,
                status.get("Threads", ""), cpu_pct, rtp,
                pick(series, "TXN_SERIES", ("transaction",)),
                pick(series, "RELAY_SERIES", ("relay", "rtp_sessions")),
                f"{sum(calls):g}" if calls else "",
            ])
            f.flush()
            time.sleep(max(0.0, interval - (time.monotonic() - start) % interval))


def slope(points):
    """(Theil-Sen slope, mean): the median of the slopes between every two samples, so one
    burst of calls near either end (a spike of sockets for a few seconds) does not read as a
    trend the way a least-squares line would."""
    slopes = sorted(
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 != x1
    )
    mean = sum(y for _, y in points) / len(points)
    if not slopes:
        return 0.0, mean
    mid = len(slopes) // 2
    median = slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2
    return median, mean


def flatness(rows, warmup, end, tol):
    """[(series, growth %, growth, flat or None)] for each series with data in [warmup, end]."""
    out = []
    for name in FIELDS[1:]:
        points = [(float(r["t"]), float(r[name])) for r in rows if r[name] != ""]
        after = [(t, v) for t, v in points if warmup <= t <= end]
        if not points:
            continue
        if len(after) < 3:
            out.append((name, None, None, None))
            continue
        k, mean = slope(after)
        growth = k * (after[-1][0] - after[0][0])
        rel = 100.0 * growth / mean if mean else 0.0
        # Only growth counts: a fall (calls ending) is no leak.
        flat = growth <= SLACK.get(name, DEFAULT_SLACK) or rel <= 100.0 * tol
        if name == "calls":
            flat = None  # a counter: it grows by design; plotted, not judged
        out.append((name, rel, growth, flat))
    return out


def svg(rows, warmup, end, path, title):
    names = [n for n in FIELDS[1:] if any(r[n] != "" for r in rows)]
    width, height, left, top = 640, 110, 70, 28
    parts = []
    total_h = top + len(names) * (height + 30) + 10
    parts.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" '
        f'font-family="sans-serif" font-size="11">'
    )
    parts.append(f'<rect width="{width}" height="{total_h}" fill="white"/>')
    parts.append(f'<text x="{left}" y="16" font-size="13">{html.escape(title)}</text>')
    t_max = max(float(r["t"]) for r in rows) or 1.0
    plot_w = width - left - 20
    for i, name in enumerate(names):
        y0 = top + i * (height + 30) + 14
        pts = [(float(r["t"]), float(r[name])) for r in rows if r[name] != ""]
        values = [v for _, v in pts]
        lo, hi = min(values), max(values)
        if name == "rss_kib":
            label, scale = "RSS (MiB)", 1024.0
        else:
            label, scale = name.replace("_", " "), 1.0
        span = (hi - lo) or 1.0
        parts.append(f'<text x="{left}" y="{y0 - 3}">{label}</text>')
        parts.append(
            f'<rect x="{left}" y="{y0}" width="{plot_w}" height="{height}" '
            f'fill="none" stroke="#999"/>'
        )
        for mark in (warmup, end):
            if mark <= t_max:
                wx = left + plot_w * mark / t_max
                parts.append(
                    f'<line x1="{wx:.1f}" y1="{y0}" x2="{wx:.1f}" y2="{y0 + height}" '
                    f'stroke="#c66" stroke-dasharray="3,3"/>'
                )
        parts.append(f'<text x="{left - 4}" y="{y0 + 9}" text-anchor="end">{hi / scale:.4g}</text>')
        parts.append(
            f'<text x="{left - 4}" y="{y0 + height}" text-anchor="end">{lo / scale:.4g}</text>'
        )
        line = " ".join(
            f"{left + plot_w * t / t_max:.1f},{y0 + height - height * (v - lo) / span:.1f}"
            for t, v in pts
        )
        parts.append(f'<polyline points="{line}" fill="none" stroke="#236" stroke-width="1.5"/>')
    parts.append(
        f'<text x="{left}" y="{total_h - 6}">0 to {t_max / 60:.1f} min; '
        f'dashed: end of the {warmup:g} s warm-up, end of the load</text>'
    )
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def sipp_calls(path):
    """(successful, failed) cumulative calls from the last line of SIPp's -trace_stat file."""
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    header = lines[0].split(";")
    last = lines[-1].split(";")
    value = lambda col: int(last[header.index(col)])
    return value("SuccessfulCall(C)"), value("FailedCall(C)")


def report(args):
    samples, warmup, out = args[0], float(args[1]), args[2]
    opts = dict(zip(args[3::2], args[4::2]))
    with open(samples) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        print("no samples")
        return
    tol = float(os.environ.get("FLAT_TOL", "0.05"))
    end = float(opts.get("--end", "inf"))
    judged = flatness(rows, warmup, end, tol)
    svg(rows, warmup, end, out, opts.get("--title", "soak"))
    words = []
    verdicts = []
    for name, rel, growth, flat in judged:
        if rel is None:
            words.append(f"{name} n/a (too few samples after the warm-up)")
            continue
        unit = " KiB" if name == "rss_kib" else ""
        mark = "" if flat is None else (" flat" if flat else " **GROWS**")
        words.append(f"{name} {growth:+.0f}{unit} ({rel:+.1f}%){mark}")
        if flat is not None:
            verdicts.append(flat)
    missing = [n for n in ("transactions", "relays") if all(r[n] == "" for r in rows)]
    if missing:
        words.append(f"{' and '.join(missing)}: no series in /metrics")
    if not verdicts:
        verdict = "flatness n/a (run shorter than the warm-up)"
    elif all(verdicts):
        verdict = "flat after the warm-up"
    else:
        verdict = "NOT flat after the warm-up"
    first, last = rows[0], rows[-1]
    text = f"{verdict}: " + ", ".join(words)
    text += (
        f"; last sample at {float(last['t']):.0f} s (after the load): RSS "
        f"{int(float(last['rss_kib'])) // 1024} MiB, {last['fds']} fds, "
        f"{last['rtp_sockets']} RTP sockets (at the start: {int(float(first['rss_kib'])) // 1024} "
        f"MiB, {first['fds']} fds, {first['rtp_sockets']} RTP sockets)"
    )
    if "--sipp-stat" in opts:
        try:
            ok, failed = sipp_calls(opts["--sipp-stat"])
            text += f"; SIPp calls: {ok} successful, {failed} failed"
        except (OSError, ValueError, IndexError) as e:
            text += f"; SIPp statistics unreadable ({e})"
    print(text)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    if sys.argv[1] == "sample" and len(sys.argv) == 9:
        pid, url, lo, hi, interval, until, out = sys.argv[2:]
        sample(int(pid), url, int(lo), int(hi), float(interval), float(until), out)
    elif sys.argv[1] == "report" and len(sys.argv) >= 5:
        report(sys.argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
