#!/usr/bin/env python3
"""bench/report.py: write BENCHMARKS.md from one run of bench/run.

bench/run records one line per measurement in a TSV file (case, variant,
synchronous_commit, clients, metric, value), the commands it used, notes
(failures, cases not measured) and the callgrind profile.  This script turns
them into the ratios of issue 5, marks which targets hold, and writes the
report.  It computes nothing but ratios and medians: every number in the
report comes from that one run.
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess


def sh(command):
    """The output of a shell command, or "" when it fails."""
    try:
        return subprocess.run(command, shell=True, capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except Exception:
        return ""


def load(path):
    """{(case, variant, sc, clients, metric): [values]} from the TSV."""
    data = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 6:
                continue
            key = tuple(parts[:5])
            try:
                value = float(parts[5])
            except ValueError:
                value = None
            data.setdefault(key, []).append(value)
    return data


def value(data, case, variant, sc, clients, metric):
    """The median of a measurement, or None when it was not measured."""
    values = [v for v in data.get((case, variant, sc, str(clients), metric),
                                  []) if v is not None]
    return statistics.median(values) if values else None


def fmt(x, digits=0):
    if x is None:
        return "n/m"
    return f"{x:,.{digits}f}"


def ratio_cell(r, target, at_least=True):
    if r is None:
        return "n/m", None
    holds = r >= target if at_least else r <= target
    return f"**{r:.2f}** {'✓' if holds else '✗'}", holds


def machine():
    cpu = sh("lscpu | sed -n 's/^Model name: *//p'")
    cpus = os.cpu_count()
    mem = sh("free -g | awk '/^Mem:/ {print $2}'")
    pg = sh("pg_config --version")
    disk = sh("df -h / | awk 'NR==2 {print $2}'")
    virt = sh("lscpu | sed -n 's/^Hypervisor vendor: *//p'")
    wrk_version = sh("wrk -v 2>&1 | head -n 1 | cut -d ' ' -f 1,2")
    commit = sh("git -C " + os.path.dirname(os.path.abspath(__file__)) +
                " rev-parse --short HEAD")
    return [
        f"- CPU: {cpu}, {cpus} cores" + (f" (virtual machine, {virt})"
                                         if virt else ""),
        f"- memory: {mem} GB; disk: {disk}",
        f"- OS: {platform.system()} {platform.release()}, "
        f"Debian {sh('cat /etc/debian_version')}",
        f"- {pg}; pgbench; {wrk_version}; {sh('valgrind --version')}",
        f"- date of the run: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, "
        f"commit {commit}"
        " (plus the working tree at that time)",
    ]


def main():
    p = argparse.ArgumentParser()
    for name in ("results", "commands", "notes", "profile", "out"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--seconds", required=True)
    p.add_argument("--large", required=True)
    p.add_argument("--import-rows", required=True)
    p.add_argument("--link-people", required=True)
    a = p.parse_args()
    data = load(a.results)
    clients = sorted({int(k[3]) for k in data if k[3].isdigit()
                      and k[0] not in ("link_org", "import", "memory")})
    verdicts = []

    out = []
    w = out.append
    w("# Benchmarks")
    w("")
    w("Written by `make bench` (bench/run, then bench/report.py) from one run;"
      " do not edit by hand. Every comparison ran side by side in that run,"
      f" pgbench in prepared mode (`-M prepared`), {a.seconds} s per run,"
      " each side twice (A B, then B A; the mean is shown),"
      " with synchronous_commit on and off and 2 and 8 clients. Ratios are"
      " of transactions per second unless said otherwise; ✓ marks a target"
      " that holds, ✗ one that does not, n/m a case not measured. This is"
      " never part of CI.")
    w("")
    w("## Machine")
    w("")
    out.extend(machine())
    w("")
    w("The cluster is a throwaway one made by bench/run: unix socket only,"
      " fsync on, shared_buffers = 4GB, max_wal_size = 20GB,"
      " checkpoint_timeout = 30min, a CHECKPOINT before every run."
      " pgbench, wrk, the REST server and PostgreSQL share the same cores.")
    loads = [v for k, vs in data.items() if k[4] == "loadavg" for v in vs
             if v is not None]
    if loads:
        w(f"The machine is shared: the 1-minute load average just before"
          f" each run ranged from {min(loads):.1f} to {max(loads):.1f}"
          f" (median {statistics.median(loads):.1f}) on"
          f" {os.cpu_count()} cores, so other work was running at times;"
          " each comparison's two sides ran back to back to share the same"
          " conditions, but single numbers can be off by a wide margin.")
    w("")

    def tps_table(title, case, pairs, note=None):
        w(f"## {title}")
        w("")
        if note:
            w(note)
            w("")
        head = "| sync commit | clients | " + " | ".join(
            f"{v} tps" for v in dict.fromkeys(x for pair in pairs
                                              for x in pair[:2])) + \
            " | " + " | ".join(p[2] for p in pairs) + " |"
        w(head)
        w("|" + "---|" * (head.count("|") - 1))
        variants = list(dict.fromkeys(x for pair in pairs for x in pair[:2]))
        for sc in ("on", "off"):
            for c in clients:
                cells = [fmt(value(data, case, v, sc, c, "tps")) for v in
                         variants]
                rcells = []
                for num, den, label, target in pairs:
                    n = value(data, case, num, sc, c, "tps")
                    d = value(data, case, den, sc, c, "tps")
                    r = n / d if n and d else None
                    cell, holds = ratio_cell(r, target)
                    rcells.append(cell)
                    verdicts.append((f"{case}: {label}", sc, c, r, holds,
                                     target))
                w(f"| {sc} | {c} | " + " | ".join(cells) + " | " +
                  " | ".join(rcells) + " |")
        w("")

    tps_table("sp_identify, updating an existing person", "identify_update",
              [("sp", "floor", "sp / floor (target ≥ 0.7)", 0.7),
               ("sp", "reference", "sp / PL/pgSQL (target ≥ 1.5)", 1.5)],
              "Each call changes a property of one of 10,000 people (so it"
              " writes). floor: one `INSERT … ON CONFLICT DO UPDATE` into"
              " bench.floor_people, a table of the same shape and indexes"
              " without triggers. reference: bench/reference.sql, the same"
              " rules in PL/pgSQL on the extension's own tables.")
    tps_table("sp_identify, creating a new person", "identify_create",
              [("sp", "floor", "sp / floor (target ≥ 0.7)", 0.7),
               ("sp", "reference", "sp / PL/pgSQL (target ≥ 1.5)", 1.5)],
              "Each call creates a person with externalId, email, name and"
              " properties; the person is linked to the organization of"
              " the email's domain by the trigger, and a `create` history"
              " row is written.")
    tps_table("sp_feedback for a known person", "feedback",
              [("sp", "floor", "sp / floor (target ≥ 0.6)", 0.6)],
              "sp: `sp_feedback` naming the person by externalId. floor: a"
              " bare prepared INSERT into bench.floor_feedback with the"
              " person's id given.")
    large = int(a.large)
    tps_table("Scale: sp_identify among many people", "scale",
              [("large", "small", f"{large:,} / 10,000 (target ≥ 0.8)",
                0.8)],
              f"The same update call as above in a workspace of {large:,}"
              " people (database bench_large) and of 10,000 (database"
              " bench)." + ("" if large >= 10_000_000 else
                            f" The big workspace holds {large:,} people, not"
                            " 10 million, to keep the run short."))
    load_s = value(data, "scale", "load_seconds", "-", "-", "seconds")
    if load_s is not None:
        w(f"Loading the {large:,} people took {load_s:.0f} s (bulk INSERT"
          " with the triggers off, see bench/setup.sql).")
        w("")

    # HTTP
    w("## HTTP: POST /api/v1/people")
    w("")
    w("wrk on loopback against the REST server (one worker thread and one"
      " database connection per client), against pgbench calling"
      " `simpleproduct.api_post_person` (the one statement the server runs"
      " per request) as the server's own role with the same connection"
      " count. Same request bodies as the update case.")
    w("")
    w("| sync commit | clients | wrk req/s | pgbench tps | wrk / pgbench"
      " (target ≥ 0.8) | p50 | p99 | server RSS |")
    w("|---|---|---|---|---|---|---|---|")
    for sc in ("on", "off"):
        for c in clients:
            n = value(data, "http", "wrk", sc, c, "tps")
            d = value(data, "http", "pgbench", sc, c, "tps")
            r = n / d if n and d else None
            cell, holds = ratio_cell(r, 0.8)
            verdicts.append(("http: wrk / pgbench", sc, c, r, holds, 0.8))
            rss = value(data, "http", "wrk", sc, c, "server_rss_kb")
            p50 = raw(a.results, "http", "wrk", sc, c, "p50")
            p99 = raw(a.results, "http", "wrk", sc, c, "p99")
            w(f"| {sc} | {c} | {fmt(n)} | {fmt(d)} | {cell} | {p50} | {p99}"
              f" | {fmt(rss / 1024, 1) + ' MB' if rss else 'n/m'} |")
    w("")

    # Organization linking
    w("## Creating an organization that links its people")
    w("")
    w(f"`sp_upsert_org` creating the organization of a domain that"
      f" {int(a.link_people):,} existing people have their email at (the"
      " trigger links them all), against a bare UPDATE of those rows in"
      " bench.floor_people. One statement each, in a transaction rolled"
      " back afterwards; three tries per setting (three domains), the"
      " median kept. A ratio of times: lower is better.")
    w("")
    w("| sync commit | sp_upsert_org ms | bare UPDATE ms | people linked |"
      " sp / floor (target ≤ 2) |")
    w("|---|---|---|---|---|")
    for sc in ("on", "off"):
        s = value(data, "link_org", "sp", sc, 1, "ms")
        f_ = value(data, "link_org", "floor", sc, 1, "ms")
        linked = value(data, "link_org", "linked", sc, 1, "count")
        r = s / f_ if s and f_ else None
        cell, holds = ratio_cell(r, 2.0, at_least=False)
        verdicts.append(("link_org: time sp / floor", sc, "-", r, holds,
                         "≤ 2"))
        w(f"| {sc} | {fmt(s, 1)} | {fmt(f_, 1)} | {fmt(linked)} | {cell} |")
    w("")

    # Import
    w("## Bulk import")
    w("")
    w(f"`simpleproduct.sp_import` over a staged table of"
      f" {int(a.import_rows):,} rows (bench/import_data.sql: 90% new people,"
      " 6% updates, 2% emails that move to a new person, 1% email-only, 1%"
      " errors), against row-by-row `sp_identify` over a tenth as many rows"
      " of the same mix, one transaction per row, in one session. Rates in"
      " rows per second. Two row-by-row baselines: from a client"
      " (pgbench, one connection, one prepared statement and transaction"
      " per row: how a team's own loader would do it; the target is judged"
      " on this one), and in the server (a PL/pgSQL procedure committing"
      " after each row: no round trip at all, the strictest baseline).")
    w("")
    w("| sync commit | sp_import rows/s | client row-by-row rows/s |"
      " in-server row-by-row rows/s | import / client (target ≥ 10) |"
      " import / in-server |")
    w("|---|---|---|---|---|---|")
    for sc in ("on", "off"):
        s = value(data, "import", "sp_import", sc, 1, "rows_per_s")
        cl = value(data, "import", "client_row_by_row", sc, 1, "rows_per_s")
        rb = value(data, "import", "row_by_row", sc, 1, "rows_per_s")
        r = s / cl if s and cl else None
        r2 = s / rb if s and rb else None
        cell, holds = ratio_cell(r, 10)
        verdicts.append(("import: rate / client row-by-row", sc, "-", r,
                         holds, 10))
        w(f"| {sc} | {fmt(s)} | {fmt(cl)} | {fmt(rb)} | {cell} |"
          f" {fmt(r2, 2)} |")
    w("")

    # Memory
    w("## Backend memory")
    w("")
    calls = value(data, "memory", "calls", "off", 1, "count")
    m1 = value(data, "memory", "after_1000", "off", 1, "context_bytes")
    m2 = value(data, "memory", "after_all", "off", 1, "context_bytes")
    r1 = value(data, "memory", "after_1000", "off", 1, "rss_anon_kb")
    r2 = value(data, "memory", "after_all", "off", 1, "rss_anon_kb")
    w(f"One session calling `sp_identify` {fmt(calls)} times, each call in"
      " its own transaction (bench/procedures.sql: nine updates for each"
      " new person). Memory of all the backend's memory contexts"
      " (pg_backend_memory_contexts) and its anonymous resident memory"
      " (RssAnon), after the first 1,000 calls and after all of them.")
    w("")
    w("| | after 1,000 calls | after all calls | growth |")
    w("|---|---|---|---|")
    w(f"| memory contexts | {fmt(m1)} B | {fmt(m2)} B |"
      f" {fmt(m2 - m1) + ' B' if m1 and m2 else 'n/m'} |")
    w(f"| RssAnon | {fmt(r1)} kB | {fmt(r2)} kB |"
      f" {fmt(r2 - r1) + ' kB' if r1 and r2 else 'n/m'} |")
    w("")
    mem_holds = None
    if m1 and m2:
        mem_holds = (m2 - m1) <= 64 * 1024
        verdicts.append(("memory: no growth (contexts within 64 kB)", "off",
                         1, (m2 - m1) / 1024, mem_holds, "≤ 64 kB"))

    # Summary
    w("## Targets")
    w("")
    w("| comparison | sync commit | clients | measured | target | holds |")
    w("|---|---|---|---|---|---|")
    for label, sc, c, r, holds, target in verdicts:
        t = target if isinstance(target, str) else f"≥ {target}"
        w(f"| {label} | {sc} | {c} | {fmt(r, 2)} | {t} |"
          f" {'yes' if holds else ('n/m' if holds is None else 'no')} |")
    w("")

    notes = open(a.notes).read().strip()
    if notes:
        w("## Notes from the run")
        w("")
        for line in notes.splitlines():
            w(f"- {line}")
        w("")

    w("## What limits the targets that do not hold")
    w("")
    w("ANALYSIS_PLACEHOLDER")
    w("")

    profile = open(a.profile).read().strip()
    w("## Profile")
    w("")
    if profile:
        w("`perf stat -e instructions` is not supported in this virtual"
          " machine, so the profile is callgrind's: a single-user backend"
          " (`postgres --single`) running 2,000 `sp_identify` calls in one"
          " statement, instruction counts (Ir), inclusive and self, top"
          " entries.")
        w("")
        w("```")
        w(profile)
        w("```")
    else:
        w("Not measured in this run.")
    w("")

    w("## Commands")
    w("")
    w("```")
    w("make bench        # = bash bench/run; settings: see its header")
    w(open(a.commands).read().strip())
    w("```")
    w("")

    text = "\n".join(out) + "\n"
    analysis = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "analysis.md")
    if os.path.exists(analysis):
        text = text.replace("ANALYSIS_PLACEHOLDER",
                            open(analysis).read().strip())
    else:
        text = text.replace("ANALYSIS_PLACEHOLDER",
                            "See the profile below.")
    with open(a.out, "w") as f:
        f.write(text)


def raw(path, case, variant, sc, clients, metric):
    """The texts of a measurement as recorded (latencies keep their unit),
    one per pass, joined."""
    found = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[:5] == [case, variant, sc, str(clients), metric]:
                found.append(parts[5])
    return " / ".join(found) if found else "n/m"


if __name__ == "__main__":
    main()
