"""The bound, the tables, the CDF plot, the findings and the JSON line."""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.swarm.harness import Counters, SystemResult

MIB = 1 << 20
FIRST_BYTES = 1 * MIB  # "first MiB at": when a host had received its first MiB


@dataclass
class Bound:
    seconds: float
    origin_upload_s: float  # F / u_origin
    download_s: float  # F / d
    swarm_upload_s: float  # N F / (u_origin + N u)


def bound(size: int, rate_bps: int, hosts: int) -> Bound:
    """T_min = max(F/u_origin, F/d, N F / (u_origin + N u)), every cap = ``rate_bps``."""
    rate = rate_bps / 8
    terms = (size / rate, size / rate, hosts * size / (rate + hosts * rate))
    return Bound(max(terms), *terms)


def _quantile(times: list[float | None], q: float) -> float | None:
    values = sorted(math.inf if t is None else t for t in times)
    if not values:
        return None
    if q == 0.5:
        value = statistics.median(values)
    else:
        value = values[min(len(values) - 1, math.ceil(q * len(values)) - 1)]
    return None if math.isinf(value) else value


def window_totals(
    samples: list[tuple[float, Counters]], until: float
) -> dict[str, tuple[int, int]]:
    """(up, down) bytes of each node from the first sample until ``until`` seconds."""
    if not samples:
        return {}
    first = samples[0][1]
    inside = [s for s in samples if s[0] <= until + 0.3] or samples[:1]
    last = inside[-1][1]
    return {
        role: (last[role][0] - first[role][0], last[role][1] - first[role][1])
        for role in first
        if role in last
    }


def window_uploads(samples: list[tuple[float, Counters]], until: float) -> dict[str, int]:
    """Bytes each node uploaded from the first sample until ``until`` seconds (or the end)."""
    if not samples:
        return {}
    first = samples[0][1]
    inside = [s for s in samples if s[0] <= until + 0.3] or samples[:1]
    last = inside[-1][1]
    return {role: last[role][0] - first[role][0] for role in first if role in last}


def first_mib_at(samples: list[tuple[float, Counters]]) -> dict[str, float]:
    if not samples:
        return {}
    first = samples[0][1]
    found: dict[str, float] = {}
    for t, counters in samples[1:]:
        for role, (_, down) in counters.items():
            if (
                role not in ("origin", "sched")
                and role not in found
                and down - first[role][1] >= FIRST_BYTES
            ):
                found[role] = t
    return found


def summarize(result: SystemResult, lower: Bound, size: int) -> dict[str, Any]:
    times = [h.seconds for h in result.hosts]
    p50, worst = _quantile(times, 0.5), _quantile(times, 1.0)
    return {
        "p50_s": None if p50 is None else round(p50, 2),
        "max_s": None if worst is None else round(worst, 2),
        "origin_bytes": result.origin_bytes,
        "max_over_bound": None if worst is None else round(worst / lower.seconds, 2),
        "origin_over_file": round(result.origin_bytes / size, 2),
        "hosts_ok": sum(1 for t in times if t is not None),
        "hosts": len(times),
    }


def utilization(result: SystemResult, rate_bps: int, hosts: int) -> float | None:
    """Share of the upload capacity of origin + hosts used until the last host finished."""
    worst = max(result.times, default=0.0) if result.ok else None
    if not worst:
        return None
    uploads = window_uploads(result.samples, worst)
    sent = sum(v for role, v in uploads.items() if role != "sched")
    return sent / (worst * (hosts + 1) * rate_bps / 8)


def short_error(error: str) -> str:
    return "timeout" if error.startswith("timeout") else "failed"


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def print_tables(
    results: list[SystemResult],
    lower: Bound,
    size: int,
    rate_bps: int,
    hosts: int,
) -> list[str]:
    lines = []
    lines.append(
        "bound T_min = max(F/u_origin, F/d, N*F/(u_origin+N*u)) = "
        f"max({lower.origin_upload_s:.2f}, {lower.download_s:.2f}, "
        f"{lower.swarm_upload_s:.2f}) = {lower.seconds:.2f} s"
    )
    lines.append("")
    header = (
        f"{'system':<12}{'hosts ok':>9}{'p50 s':>8}{'max s':>8}{'max/bound':>10}"
        f"{'origin MiB':>12}{'x file':>8}{'upload use':>12}{'CPU busy':>10}"
    )
    lines.append(header)
    for result in results:
        s = summarize(result, lower, size)
        use = utilization(result, rate_bps, hosts)
        lines.append(
            f"{result.name:<12}{s['hosts_ok']:>5}/{s['hosts']:<3}{_fmt(s['p50_s']):>8}"
            f"{_fmt(s['max_s']):>8}{_fmt(s['max_over_bound']):>10}"
            f"{result.origin_bytes / MIB:>12.1f}{s['origin_over_file']:>8.2f}"
            f"{'-' if use is None else f'{use:.0%}':>12}"
            f"{'-' if result.cpu_busy is None else f'{result.cpu_busy:.0%}':>10}"
        )
    lines.append(
        "(upload use: bytes all hosts and the origin host sent until the last host finished,"
        " over their upload capacity in that time; CPU busy: the whole 2-core machine)"
    )
    lines.append("")
    lines.append("completion time per host, seconds from the common start (first MiB at, s)")
    names = [r.name for r in results]
    lines.append(f"{'host':<6}" + "".join(f"{n:>20}" for n in names))
    firsts = {r.name: first_mib_at(r.samples) for r in results}
    for i, host in enumerate(results[0].hosts):
        cells = []
        for r in results:
            h = r.hosts[i]
            first = firsts[r.name].get(host.host)
            cell = _fmt(h.seconds) if h.seconds is not None else short_error(h.error)
            cells.append(f"{cell:>10} ({_fmt(first, '.2f'):>6})  ")
        lines.append(f"{host.host:<6}" + "".join(f"{c:>20}" for c in cells))
    return lines


def damselfly_lines(result: SystemResult, rate_bps: int) -> list[str]:
    """Per-host view of a Damselfly run: dfget's traffic breakdown, uploads, log events."""
    worst = max(result.times, default=0.0)
    uploads = window_uploads(result.samples, worst or math.inf)
    firsts = first_mib_at(result.samples)
    lines = [
        "damselfly per host (wall = from the common start to dfget's exit; dfget = its own"
        " 'seconds'; MiB by source from dfget --json; up = bytes the host's link sent;"
        " cpu = the host daemon's CPU seconds during the run)",
        f"{'host':<6}{'wall s':>8}{'dfget s':>9}{'1st MiB':>9}{'origin':>8}{'seed':>8}"
        f"{'peers':>8}{'up MiB':>8}{'cpu s':>7}  log events",
    ]
    for host in result.hosts:
        dfget = host.detail.get("dfget", {})
        traffic = dfget.get("traffic", {})
        events = {k: v for k, v in host.detail.get("log", {}).items() if v}
        lines.append(
            f"{host.host:<6}{_fmt(host.seconds):>8}{_fmt(dfget.get('seconds')):>9}"
            f"{_fmt(firsts.get(host.host)):>9}"
            f"{traffic.get('back_to_source', 0) / MIB:>8.1f}"
            f"{traffic.get('seed_peer', 0) / MIB:>8.1f}"
            f"{traffic.get('remote_peer', 0) / MIB:>8.1f}{uploads.get(host.host, 0) / MIB:>8.1f}"
            f"{_fmt(host.detail.get('daemon_cpu_s'), '.1f'):>7}"
            f"  {events or ''}{'' if not host.error else ' error: ' + host.error}"
        )
    seed_up = uploads.get("origin", 0)
    if worst:
        lines.append(
            f"origin host (seed peer) uploaded {seed_up / MIB:.1f} MiB in {worst:.2f} s = "
            f"{seed_up * 8 / worst / rate_bps:.0%} of its cap"
        )
    return lines


def matrix_lines(result: SystemResult) -> list[str]:
    """Who sent to whom, MiB (rows receive, columns send; 'o' is the origin host)."""
    if not result.matrix:
        return []
    receivers = [h.host for h in result.hosts]
    senders = ["origin", *receivers]
    label = {"origin": "o"} | {r: r.removeprefix("h") for r in receivers}
    lines = [
        f"{result.name}: MiB each host received from each sender (rows receive, columns send;"
        " o = origin host; from ss -ti every second)",
        f"{'':<6}" + "".join(f"{label[s]:>6}" for s in senders) + f"{'senders':>9}",
    ]
    for receiver in receivers:
        row = result.matrix.get(receiver, {})
        cells = "".join(
            f"{row[s][0] / MIB:>6.0f}" if s in row and row[s][0] >= MIB // 2 else f"{'.':>6}"
            for s in senders
        )
        count = sum(1 for s in senders if s in row and row[s][0] >= MIB)
        lines.append(f"{receiver:<6}{cells}{count:>9}")
    return lines


def first_from_peer(result: SystemResult) -> dict[str, float]:
    """When each host first had 1 MiB on one connection from a host other than the origin."""
    found: dict[str, float] = {}
    for receiver, row in result.matrix.items():
        times = [first for s, (_, first) in row.items() if s != "origin" and first is not None]
        if times:
            found[receiver] = min(times)
    return found


def findings(result: SystemResult, lower: Bound, size: int, rate_bps: int) -> list[str]:
    """Plain sentences on where a Damselfly run lost time against the bound."""
    out: list[str] = []
    times = result.times
    failed = [h for h in result.hosts if h.seconds is None]
    for host in failed:
        out.append(f"{host.host} did not complete: {host.error}")
    if not times:
        return [*out, "no host completed"]
    worst, p50 = max(times), statistics.median(times)
    firsts = first_mib_at(result.samples)
    if firsts:
        first_values = sorted(firsts.values())
        out.append(
            f"first MiB reached the hosts after {first_values[0]:.2f}-{first_values[-1]:.2f} s "
            f"(median {statistics.median(first_values):.2f} s)"
        )
    if result.matrix:
        senders = {
            r: sorted(s for s, (b, _) in row.items() if b >= MIB)
            for r, row in result.matrix.items()
        }
        only_origin = sorted(r for r, s in senders.items() if s == ["origin"])
        if only_origin:
            out.append(f"hosts that received only from the origin host: {only_origin}")
        counts = sorted(len([x for x in s if x != "origin"]) for s in senders.values())
        out.append(
            f"other hosts each host received >= 1 MiB from: {counts[0]}-{counts[-1]} "
            f"(median {statistics.median(counts):g}) of {len(senders) - 1}"
        )
        peer_first = first_from_peer(result)
        if peer_first:
            values = sorted(peer_first.values())
            out.append(
                f"first MiB from another host (not the origin) arrived after "
                f"{values[0]:.1f}-{values[-1]:.1f} s (sampled every second)"
            )
    uploads = window_uploads(result.samples, worst)
    hosts_up = sorted((v, k) for k, v in uploads.items() if k not in ("origin", "sched"))
    if hosts_up:
        out.append(
            f"hosts uploaded {hosts_up[0][0] / MIB:.1f}-{hosts_up[-1][0] / MIB:.1f} MiB each "
            f"(total {sum(v for v, _ in hosts_up) / MIB:.1f} MiB); "
            f"least: {hosts_up[0][1]}, most: {hosts_up[-1][1]}"
        )
    seed_only = [
        h.host
        for h in result.hosts
        if h.detail.get("dfget", {}).get("traffic", {}).get("remote_peer", 0) == 0
        and h.detail.get("dfget")
    ]
    if seed_only:
        out.append(f"hosts that got nothing from other peers (seed/origin only): {seed_only}")
    b2s = [
        h.host
        for h in result.hosts
        if h.detail.get("dfget", {}).get("traffic", {}).get("back_to_source", 0) > 0
    ]
    if b2s:
        out.append(f"hosts that fetched from the origin themselves: {b2s}")
    if result.origin_bytes > size:
        out.append(f"origin server sent {result.origin_bytes / size:.2f} x the file")
    totals = window_totals(result.samples, worst)
    hosts = [r for r in totals if r not in ("origin", "sched")]
    if hosts:
        received = sum(totals[r][1] for r in hosts)
        seed_up = totals.get("origin", (0, 0))[0]
        out.append(
            f"the origin host's link (seed peer) sent {seed_up / MIB:.1f} MiB = "
            f"{seed_up / size:.2f} x the file; the hosts' links received "
            f"{received / MIB:.1f} MiB = {received / (len(hosts) * size):.2f} x what they needed "
            "(about 1.03 is TCP/IP overhead; more is pieces fetched twice or abandoned)"
        )
    if not failed:
        out.append(
            f"p50 {p50:.2f} s, max {worst:.2f} s = {worst / lower.seconds:.2f} x bound; "
            f"tail (max - p50) {worst - p50:.2f} s"
        )
    return out


def upload_rate_series(
    samples: list[tuple[float, Counters]], window_s: float = 1.0
) -> tuple[list[float], list[float]]:
    """Total upload of origin + hosts in Mbit/s, averaged over about ``window_s``."""
    xs: list[float] = []
    ys: list[float] = []
    kept: list[tuple[float, Counters]] = []
    for sample in samples:
        if not kept or sample[0] - kept[-1][0] >= window_s * 0.95 or sample is samples[-1]:
            kept.append(sample)
    for (t0, c0), (t1, c1) in itertools.pairwise(kept):
        if t1 <= t0:
            continue
        sent = sum(c1[r][0] - c0[r][0] for r in c1 if r in c0 and r != "sched")
        xs += [t0, t1]
        ys += [sent * 8 / (t1 - t0) / 1e6] * 2
    return xs, ys


def plot(
    results: list[SystemResult], lower: Bound, path: Path, title: str, capacity_mbit: float
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, rate_ax) = plt.subplots(
        1, 2, figsize=(11, 4.2), dpi=110, gridspec_kw={"width_ratios": [3, 2]}
    )
    for result in results:
        times = result.times
        n = len(result.hosts)
        if not times:
            continue
        xs = [0.0] + [t for t in times for _ in (0, 1)]
        ys = [0.0] + [v for i in range(len(times)) for v in (i / n, (i + 1) / n)]
        label = (
            f"{result.name} (max {times[-1]:.1f} s)"
            if result.ok
            else f"{result.name} ({len(times)}/{n} hosts done)"
        )
        (line,) = ax.plot(xs, ys, label=label, linewidth=1.8)
        rate_xs, rate_ys = upload_rate_series(result.samples)
        rate_ax.plot(rate_xs, rate_ys, color=line.get_color(), linewidth=1.2, label=result.name)
    ax.axvline(lower.seconds, color="grey", linestyle="--", linewidth=1)
    ax.text(lower.seconds, 0.02, f" bound {lower.seconds:.1f} s", color="grey", fontsize=8)
    ax.set_xlabel("seconds from the common start")
    ax.set_ylabel("fraction of hosts complete")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=9)
    rate_ax.axhline(capacity_mbit, color="grey", linestyle="--", linewidth=1)
    rate_ax.text(
        0,
        capacity_mbit,
        " upload capacity of origin + hosts",
        color="grey",
        fontsize=8,
        va="bottom",
    )
    rate_ax.set_xlabel("seconds from the common start")
    rate_ax.set_ylabel("Mbit/s uploaded, all hosts")
    rate_ax.set_xlim(left=0)
    rate_ax.set_ylim(0, capacity_mbit * 1.1)
    rate_ax.grid(True, alpha=0.3)
    rate_ax.set_title("upload in use (link counters, 1 s averages)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
