#!/usr/bin/env python3
"""make eval, inside the VM: what each collapse configuration ("arm") costs
in memory (bloat) against the folio sizes it reaches, on real programs
(issue 14, first step: python3 and sqlite3; memcached and the JVM come next).

For each run, program and arm, from a fresh start of the program:
  1. every THP size `never`: the program runs its phases on small pages;
  2. its layout is read (pagemap + kpageflags, eval/layout.py): anon RSS,
     and the zero-bloat optimum for the arm's sizes;
  3. the arm is set (sizes `always`, max_ptes_none, a policy attached with
     the loader), the program is poked into a new VMA so that khugepaged
     takes its mm on, and khugepaged scans (scan_sleep_millisecs 0,
     pages_to_scan 4096) while the program idles; the layout is read each
     time khugepaged/full_scans has moved (readings are many full scans
     apart), until it is the same 3 times in a row or a time bound is hit;
  4. bloat = anon RSS after, less the `off` arm's at the same point (same
     seed, PYTHONHASHSEED and no ASLR: the same heap, which the
     before-collapse RSS of every arm shows).
Arms take turns within a run, runs start afresh; each figure is printed
as min/median/max over the runs.  Output: a table per program on stdout,
everything (each run's samples too) in /mthp-out/eval.json (the host's
build/vm/<base>-<flavour>/eval.json).  EVAL_SHORT=1 (from the environment,
or build/eval.env, which `make eval` writes) runs 2 runs of small programs.
eval/README.md says what each figure means.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layout  # noqa: E402

T = '/sys/kernel/mm/transparent_hugepage'
K = T + '/khugepaged'
REPO = os.environ.get('MTHP_REPO', os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get('MTHP_BUILD', os.path.join(REPO, 'build'))
LOADER = os.path.join(BUILD, 'loader', 'mthp-policy')
OUT = os.environ.get('EVAL_OUT', '/mthp-out/eval.json')


def conf(name, default):
    v = os.environ.get(name)
    if v is None:
        try:
            with open(os.path.join(BUILD, 'eval.env')) as f:
                for line in f:
                    k, _, val = line.strip().partition('=')
                    if k == name and val:
                        v = val
        except OSError:
            pass
    return default if v in (None, '') else v


SHORT = conf('EVAL_SHORT', '0') not in ('0', 'no')
RUNS = int(conf('EVAL_RUNS', 2 if SHORT else 3))
MIB = int(conf('EVAL_MIB', 24 if SHORT else 256))       # program size
# Bounds of a collapse phase.  A full scan of these programs takes well
# under a millisecond once their ranges are collapsed (tens of PMD ranges),
# so the scan bound is large and the time bound is what ends a phase that
# does not settle.
MAX_SCANS = int(conf('EVAL_MAX_SCANS', 1000000))
MAX_SECS = int(conf('EVAL_MAX_SECS', 60 if SHORT else 600))
STABLE = 3                    # samples in a row with the same layout: settled


def wr(path, val):
    with open(path, 'w') as f:
        f.write(str(val))


def rd(path):
    with open(path) as f:
        return f.read().strip()


SIZES = sorted((d for d in os.listdir(T) if d.startswith('hugepages-')
                and os.path.exists(os.path.join(T, d, 'enabled'))),
               key=lambda d: int(d[10:-2]))
ORDER = {d: (int(d[10:-2]) // 4).bit_length() - 1 for d in SIZES}   # 16kB -> 2
ALL = sorted(o for o in ORDER.values() if o >= 2)
HOOK = os.path.exists(K + '/policy')

# name: (orders `always` in the collapse phase, max_ptes_none, policy)
ARMS = [('off', [], 511, None),
        ('pmd-only', [9], 511, None),
        ('default-0', ALL, 0, None),
        ('default-511', ALL, 511, None),
        ('conservative', ALL, 511, 'conservative'),
        ('aggressive', ALL, 511, 'aggressive')]


def set_sizes(orders):
    for d in SIZES:
        wr('%s/%s/enabled' % (T, d), 'always' if ORDER[d] in orders else 'never')


def loader(*args):
    return subprocess.run([LOADER] + list(args), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)


def khugepaged_cpu():
    """(pid, utime + stime in seconds) of the khugepaged thread."""
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                if rd('/proc/%s/comm' % p) == 'khugepaged':
                    f = rd('/proc/%s/stat' % p).rsplit(')', 1)[1].split()
                    return int(p), (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')
            except OSError:
                pass
    return None, 0.0


# ---- the programs: each starts, runs its phases, prints "ready", idles

class Program:
    def __init__(self, argv, env, work):
        self.p = subprocess.Popen(['setarch', '-R'] + argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, cwd=work,
                                  env=dict(os.environ, **env))

    def say(self, line, want):
        if line:
            self.p.stdin.write(line + '\n')
            self.p.stdin.flush()
        for out in self.p.stdout:
            if out.split()[:1] == [want]:
                return
        raise RuntimeError('program ended before "%s" (rc %s)' % (want, self.p.wait()))

    def stop(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()


def start_python(seed, work):
    pr = Program(['python3', os.path.join(REPO, 'eval', 'pyfrag.py'), str(MIB), str(seed)],
                 {'PYTHONHASHSEED': str(seed)}, work)
    pr.say(None, 'ready')
    pr.poke = lambda: pr.say('poke', 'poked')
    return pr


def sqlite_script(seed, path):
    """An in-memory database (~MIB of anon memory): inserts, a delete of a
    pseudo-random 40-60% of the rows, inserts of larger rows.  Row contents
    are functions of the row number and seed: the same seed, the same heap."""
    import random
    rng = random.Random(seed)
    rows = MIB * 1600            # ~MIB in all (MIB 24: 44 MiB at 2900 rows a MiB)
    a, b = rng.randrange(1, 1 << 30), rng.randrange(1, 1 << 30)
    cte = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<%d) '
    with open(path, 'w') as f:
        f.write('CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB);\n'
                'CREATE INDEX t_k ON t(k);\n')
        f.write(cte % rows + "INSERT INTO t(k, v) SELECT printf('%%08x-%%d', (x*%d) %% 4294967296, x), "
                'zeroblob(20 + (x*%d) %% 380) FROM c;\n' % (a, b))
        f.write('DELETE FROM t WHERE ((id*2654435761 + %d) %% 1000) < %d;\n'
                % (rng.randrange(1 << 30), rng.randrange(400, 600)))
        f.write(cte % (rows // 8) + "INSERT INTO t(k, v) SELECT printf('L%%07x-%%d', (x*%d) %% 268435456, x), "
                'zeroblob(600 + (x*%d) %% 2400) FROM c;\n' % (a, b))
        f.write('.print ready\n')


def start_sqlite(seed, work):
    script = os.path.join(work, 'load.sql')
    sqlite_script(seed, script)
    pr = Program(['stdbuf', '-oL', 'sqlite3', ':memory:'], {}, work)
    pr.say('.read ' + script, 'ready')
    # a 40 MB string: above glibc's largest mmap threshold, so a new VMA,
    # written: its PMD-size faults make khugepaged take the mm on; freed.
    pr.poke = lambda: pr.say("SELECT length(hex(zeroblob(20000000)));\n.print poked", 'poked')
    return pr


PROGRAMS = [('python3', start_python), ('sqlite3', start_sqlite)]


def diagnose(pid):
    """No full scan at all: say what khugepaged and the process look like."""
    kpid, cpu = khugepaged_cpu()
    print('eval: no full scan: khugepaged pid %s cpu %.2f s state %s wchan %s' % (
        kpid, cpu, rd('/proc/%d/stat' % kpid).rsplit(')', 1)[1].split()[0] if kpid else '-',
        rd('/proc/%d/wchan' % kpid) if kpid else '-'))
    print('  sizes: ' + ' '.join('%s=%s' % (d[10:], rd('%s/%s/enabled' % (T, d)).split('[')[1].split(']')[0])
                                for d in SIZES) + '; top: ' + rd(T + '/enabled'))
    print('  status: ' + ' '.join(l.strip() for l in open('/proc/%d/status' % pid) if l.startswith('THP')))
    elig = {}
    for line in open('/proc/%d/smaps' % pid):
        if line.startswith('THPeligible:'):
            elig[line.split()[1]] = elig.get(line.split()[1], 0) + 1
    print('  THPeligible VMAs: %s; vmstat: %s' % (elig, ' '.join(
        l.strip() for l in open('/proc/vmstat') if l.startswith(('thp_collapse', 'thp_fault')))))


# ---- one (program, arm, run)

def run_one(prog, start, arm, seed, work):
    name, orders, ptes_none, policy = arm
    loader('detach', '--all')
    set_sizes([])
    wr(K + '/max_ptes_none', ptes_none)
    try:
        wr('/proc/sys/vm/compact_memory', 1)     # each arm from the same free memory
    except OSError:
        pass
    pr = start(seed, work)
    try:
        pid = pr.p.pid
        t0 = time.time()
        before = layout.read(pid, keep_vpns=True)
        opt = layout.optimum(before, orders or ALL)
        opt_any = layout.optimum(before, orders or ALL, reachable=False)
        before.vma_pages = None
        rec = {'program': prog, 'arm': name, 'seed': seed,
               'read_secs': round(time.time() - t0, 2),
               'before': {'rss': before.rss, 'by_order': before.by_order},
               'optimum_by_order': opt, 'optimum_any_by_order': opt_any, 'samples': []}
        if policy:
            r = loader('attach', policy)
            if r.returncode:
                raise RuntimeError('attach %s: %s' % (policy, r.stderr.strip()))
        set_sizes(orders)
        scans0 = int(rd(K + '/full_scans'))
        coll0 = int(rd(K + '/pages_collapsed'))
        kpid, cpu0 = khugepaged_cpu()
        pr.poke()
        t0 = time.time()
        last, seen, stable = None, scans0, 0
        while orders:
            time.sleep(0.2)
            scans = int(rd(K + '/full_scans'))
            if scans == seen:
                if time.time() - t0 > MAX_SECS:
                    rec['stopped'] = 'time bound'
                    if scans == scans0:
                        diagnose(pid)
                    break
                continue
            seen = scans
            lay = layout.read(pid)
            rec['samples'].append({'scans': scans - scans0, 'rss': lay.rss,
                                   'large': lay.large(), 'secs': round(time.time() - t0, 1)})
            stable = stable + 1 if lay.key() == last else 0
            last = lay.key()
            if stable >= STABLE or scans - scans0 >= MAX_SCANS or time.time() - t0 > MAX_SECS:
                rec['stopped'] = 'settled' if stable >= STABLE else 'bound'
                break
        if not orders:
            time.sleep(2)
            rec['stopped'] = 'collapse off'
        after = layout.read(pid)
        kpid2, cpu1 = khugepaged_cpu()
        rec.update(after={'rss': after.rss, 'by_order': after.by_order,
                          'orphan_tails': after.orphan_tails},
                   span_pages=after.span,
                   scans=int(rd(K + '/full_scans')) - scans0,
                   pages_collapsed=int(rd(K + '/pages_collapsed')) - coll0,
                   khugepaged_cpu_s=(cpu1 - cpu0) if kpid and kpid == kpid2 else None)
        if policy:
            d = K + '/policies/global'
            rec['hook'] = {'calls': int(rd(d + '/calls')), 'time_ns': int(rd(d + '/time_ns'))}
        return rec
    finally:
        set_sizes([])
        loader('detach', '--all')
        pr.stop()


# ---- figures

def figures(rec, off):
    """The per-run figures of a record; off: the `off` arm's record of the
    same program and run (its after-RSS is the bloat baseline)."""
    mb = 4096 / 2**20
    b, a = rec['before']['rss'], rec['after']['rss']
    opt = sum(rec['optimum_by_order'].values())
    large = sum(n for o, n in rec['after']['by_order'].items() if int(o) >= 2)
    f = {'rss_before_mib': b * mb, 'rss_after_mib': a * mb,
         'large_pct': 100 * large / a if a else 0,
         'pmd_pct': 100 * rec['after']['by_order'].get(9, 0) / a if a else 0,
         'optimum_pct': 100 * opt / b if b else 0,
         'optimum_any_pct': 100 * sum(rec['optimum_any_by_order'].values()) / b if b else 0}
    if off:
        f['bloat_mib'] = (a - off['after']['rss']) * mb
        f['bloat_pct'] = 100 * (a - off['after']['rss']) / off['after']['rss']
    if rec['arm'] != 'off':
        f['reached_vs_opt'] = large / opt if opt else None
        # full scans until 95% of the final large-folio pages: the count at
        # the first sample that shows it, an upper bound (samples are as
        # frequent as a layout read allows, many full scans apart)
        final = rec['samples'][-1]['large'] if rec['samples'] else 0
        f['scans_95'] = next((s['scans'] for s in rec['samples'] if s['large'] >= 0.95 * final), None)
        f['samples'] = len(rec['samples'])
        if rec.get('hook') and rec['hook']['calls']:
            f['hook_ns_per_call'] = rec['hook']['time_ns'] / rec['hook']['calls']
    return f


COLS = [('rss_before_mib', 'RSS before MiB', '%.1f'), ('rss_after_mib', 'RSS after MiB', '%.1f'),
        ('bloat_mib', 'bloat MiB', '%.2f'), ('bloat_pct', 'bloat %', '%.1f'),
        ('large_pct', '>=16K %', '%.1f'), ('pmd_pct', '2M %', '%.1f'),
        ('optimum_pct', 'optimum %', '%.1f'), ('reached_vs_opt', 'reached/opt', '%.2f'),
        ('scans_95', 'scans to 95% <=', '%d'), ('samples', 'samples', '%d'),
        ('hook_ns_per_call', 'hook ns/call', '%.0f')]


def mmm(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return [min(vals), statistics.median(vals), max(vals)]


def table(prog, summary):
    print('\n== %s: min/median/max over %d runs' % (prog, RUNS))
    rows = [['arm'] + [c[1] for c in COLS]]
    for arm, figs in summary.items():
        row = [arm]
        for key, _, fmt in COLS:
            m = figs.get(key)
            row.append('-' if m is None else '/'.join(fmt % v for v in m))
        rows.append(row)
    # transposed: a line per figure, a column per arm
    for i in range(len(rows[0])):
        print('  %-14s ' % rows[0][i] + ' '.join(r[i].rjust(17) for r in rows[1:]))


def share_table(prog, recs):
    print('  median share of anon RSS after collapse by folio size (%):')
    orders = sorted({int(o) for r in recs for o in r['after']['by_order']})
    print('  %-14s ' % 'arm' + ' '.join(('%dK' % (4 << o)).rjust(6) for o in orders))
    for arm in [a[0] for a in ARMS]:
        rs = [r for r in recs if r['arm'] == arm]
        if not rs:
            continue
        cells = []
        for o in orders:
            cells.append(statistics.median(100 * r['after']['by_order'].get(o, r['after']['by_order'].get(str(o), 0))
                                           / max(r['after']['rss'], 1) for r in rs))
        print('  %-14s ' % arm + ' '.join(('%.1f' % c).rjust(6) for c in cells))


def main():
    uname = os.uname().release
    arms = [a for a in ARMS if a[3] is None or HOOK]
    print('kernel %s (base %s), TCG guest, %s mode: %d runs, programs of ~%d MiB, '
          'collapse bound %d full scans / %d s' % (uname, os.environ.get('MTHP_BASE', '?'),
                                                  'short' if SHORT else 'full', RUNS, MIB,
                                                  MAX_SCANS, MAX_SECS))
    print('sizes: %s; arms: %s%s' % (' '.join(d[10:] for d in SIZES), ' '.join(a[0] for a in arms),
                                      '' if HOOK else ' (no hook in this kernel: policy arms skipped)'))
    print('Under TCG no throughput or latency figure is meaningful: none is reported.  '
          'hook ns/call is TCG time: compare arms with each other only.')
    print('Not in this step: memcached and the JVM, khugepaged CPU per GB scanned, the markdown '
          'report, PNG plots, record/replay.')
    for k, v in (('scan_sleep_millisecs', 0), ('pages_to_scan', 4096), ('alloc_sleep_millisecs', 1000)):
        wr('%s/%s' % (K, k), v)
    wr(T + '/enabled', 'never')
    work = '/tmp/mthp-eval'
    os.makedirs(work, exist_ok=True)
    recs = []
    t_all = time.time()
    for run in range(1, RUNS + 1):
        for prog, start in PROGRAMS:
            for arm in arms:
                t0 = time.time()
                rec = run_one(prog, start, arm, run, work)
                rec['run'] = run
                recs.append(rec)
                print('  run %d %-8s %-13s anon %6.1f -> %6.1f MiB, %6d full scans, %2d samples (%s), %5.1f s'
                      % (run, prog, arm[0], rec['before']['rss'] / 256, rec['after']['rss'] / 256,
                         rec['scans'], len(rec['samples']), rec.get('stopped'), time.time() - t0),
                      flush=True)
    result = {'kernel': uname, 'base': os.environ.get('MTHP_BASE'),
              'flavour': os.environ.get('MTHP_FLAVOUR'), 'accel': 'tcg',
              'date': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
              'short': SHORT, 'runs': RUNS, 'program_mib': MIB, 'max_scans': MAX_SCANS,
              'sizes': SIZES, 'arms': [a[0] for a in arms], 'wall_secs': round(time.time() - t_all),
              'not_done': ['memcached', 'JVM', 'khugepaged CPU per GB scanned (raw khugepaged_cpu_s '
                           'and scans are in each record)', 'exact full scans until 95% (tracepoints)',
                           'markdown report', 'PNG plots', 'record/replay'],
              'note': 'TCG guest: no throughput or latency figure is meaningful',
              'summary': {}, 'records': recs}
    for prog, _ in PROGRAMS:
        summary = {}
        for arm in arms:
            figs = {}
            for run in range(1, RUNS + 1):
                rec = next(r for r in recs if (r['program'], r['arm'], r['run']) == (prog, arm[0], run))
                off = next((r for r in recs if (r['program'], r['arm'], r['run']) == (prog, 'off', run)), None)
                rec['figures'] = figures(rec, off)
                for k, v in rec['figures'].items():
                    figs.setdefault(k, []).append(v)
            summary[arm[0]] = {k: mmm(v) for k, v in figs.items()}
        result['summary'][prog] = summary
        table(prog, summary)
        share_table(prog, [r for r in recs if r['program'] == prog])
    try:
        with open(OUT, 'w') as f:
            json.dump(result, f, indent=1)
        print('\nwrote %s (on the host: build/vm/%s-%s/%s)' % (OUT, result['base'], result['flavour'],
                                                              os.path.basename(OUT)))
    except OSError as e:
        print('eval: cannot write %s: %s' % (OUT, e), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
