#!/usr/bin/env python3
"""Boot the mthp-bpf test kernels in QEMU and run tests in them.

A kernel is a base (7.3 or 6.12) and a flavour (normal or debug), built in
build/<base>/obj-<flavour>; its tests are named <base>/<flavour>/<test>.
The guest sees the host's /usr and /etc read-only over 9p, the repository at the
same path, and a writable output directory (build/vm/<base>-<flavour>/).
Tests come from selftests/TESTS; "{base}" in a command is the kernel's base.  Results are printed as TAP with a closing
"N passed, N failed" line; the exit status is non-zero on any failure.

Every wait has a deadline: a guest that does not boot, or a test that runs past
its timeout, is killed and reported with the tail of the guest's kernel log,
and the remaining tests run in a fresh boot.  The kernel log of every boot is
scanned, and a WARNING, BUG, Oops, KASAN or lockdep report fails the run.
"""

import argparse
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.join(TOP, 'build')
MANIFEST = os.path.join(TOP, 'selftests', 'TESTS')
GRACE = 30          # host-side slack over a test's own (guest-side) timeout

# What a kernel report looks like in the log.  Lockdep reports open with
# "WARNING: possible ... locking"; KASAN with "BUG: KASAN:".
REPORT_RE = re.compile(
    r'WARNING:|BUG:|Oops|kernel BUG at|general protection fault|'
    r'Kernel panic|KASAN:|UBSAN:|INFO: task .* blocked|'
    r'inconsistent lock state|possible circular locking|'
    r'possible recursive locking|suspicious RCU usage|'
    r'list_(add|del) corruption|Unable to handle kernel')


# With several guests at once, each runs in a thread that keeps its output
# until a test's verdict, then prints both under the lock: one test's lines
# stay together, and the TAP numbers stay in order.
_out = threading.local()
_out_lock = threading.Lock()


def emit(line):
    buf = getattr(_out, 'buf', None)
    if buf is None:
        print(line, flush=True)
    else:
        buf.append(line)


def flush_out(last=None):
    """Print what this thread kept, then @last (a callable printing a line)."""
    with _out_lock:
        for line in getattr(_out, 'buf', None) or []:
            print(line)
        if getattr(_out, 'buf', None):
            del _out.buf[:]
        if last:
            last()
        sys.stdout.flush()


def note(msg):
    emit('# ' + msg)


class Test:
    def __init__(self, name, timeout, flavours, cmd):
        self.name, self.timeout, self.flavours, self.cmd = name, timeout, flavours, cmd

    def runs_on(self, base, flavour):
        """Whether the test is one of the kernel's by default: a token of
        the flavours column is a flavour (all, normal, debug, none),
        optionally @BASE for that base only."""
        for tok in self.flavours:
            f, _, b = tok.partition('@')
            if f in ('all', flavour) and b in ('', base):
                return True
        return False


def read_manifest():
    tests = []
    with open(MANIFEST) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            parts = line.split(None, 3)
            if len(parts) < 4 or not parts[1].isdigit():
                sys.exit('run.py: %s:%d: expected "name timeout flavours command"'
                         % (MANIFEST, lineno))
            tests.append(Test(parts[0], int(parts[1]), parts[2].split(','), parts[3]))
    return tests


def kvm_usable(kernel, initrd):
    """A nested KVM guest can hang before printing anything: boot briefly
    with KVM and require the kernel's first console line within seconds."""
    if not os.path.exists('/dev/kvm'):
        return False, 'no /dev/kvm'
    if not os.access('/dev/kvm', os.R_OK | os.W_OK):
        return False, 'no permission on /dev/kvm'
    cache = os.path.join(BUILD, 'vm', 'kvm-probe')
    try:
        boot_id = open('/proc/sys/kernel/random/boot_id').read().strip()
    except OSError:
        boot_id = ''
    try:
        with open(cache) as f:
            cached_id, verdict = f.read().split(None, 1)
        if cached_id == boot_id:
            return verdict.startswith('ok'), verdict.strip() + ' (cached)'
    except (OSError, ValueError):
        pass
    cmd = ['qemu-system-x86_64', '-accel', 'kvm', '-cpu', 'host', '-m', '256M',
           '-display', 'none', '-no-reboot', '-serial', 'stdio', '-monitor', 'none',
           '-kernel', kernel, '-initrd', initrd,
           '-append', 'console=ttyS0 earlyprintk=serial panic=-1 rdinit=/bin/false']
    ok, why = False, 'KVM guest printed nothing within 8 s'
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    except OSError as e:
        return False, 'cannot start qemu: %s' % e
    deadline = time.time() + 8
    buf = b''
    while time.time() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.5)
        if r:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                why = 'KVM guest exited: %s' % buf.decode(errors='replace').strip()[-200:]
                break
            buf += chunk
            if b'Linux version' in buf:
                ok, why = True, 'ok'
                break
    p.kill()
    p.wait()
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, 'w') as f:
        f.write('%s %s\n' % (boot_id, why))
    return ok, why


def qemu_cmd(args, kernel, initrd, outdir, accel, interactive):
    # Under TCG on a loaded host the guest's clock runs in bursts: RCU's
    # 21 s stall checks then fire (and warn) without any kernel fault.
    # pci=noacpi: routing the virtio IRQs through ACPI's link devices runs
    # AML that took 65 of a 105 s boot of the debug kernel under TCG; the
    # BIOS's PIRQ table gives the same routing at once.
    append = ('console=ttyS0 loglevel=5 panic=-1 rcupdate.rcu_cpu_stall_timeout=300'
              ' pci=noacpi')
    if args.append:
        append += ' ' + args.append
    cmd = ['qemu-system-x86_64', '-m', args.mem, '-smp', str(args.smp),
           '-no-reboot', '-display', 'none', '-monitor', 'none',
           '-kernel', kernel, '-initrd', initrd, '-append', append,
           '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on',
           '-virtfs', 'local,path=%s,mount_tag=mthprepo,security_model=none,readonly=on' % TOP,
           '-virtfs', 'local,path=%s,mount_tag=mthpout,security_model=none' % outdir]
    if accel == 'kvm':
        cmd += ['-accel', 'kvm', '-cpu', 'host']
    else:
        # No LA57: 6.12's identify_cpu() clears boot_cpu_data's feature
        # bits while interrupts are on, and KASAN, seeing 4-level bounds
        # for that instant, reported an interrupt's per-cpu read as a
        # wild access (once in CI, at 0.008 s).  The series works at the
        # PMD level, the same under 4 and 5 levels.
        cmd += ['-accel', 'tcg', '-cpu', 'max,la57=off']
    if interactive:
        cmd += ['-serial', 'mon:stdio']
    else:
        cmd += ['-serial', 'file:' + os.path.join(outdir, 'console.log'),
                '-serial', 'stdio']
    return cmd


def log_tail(path, n=40):
    try:
        with open(path, errors='replace') as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return ['(no %s)' % os.path.basename(path)]


def kernel_reports(outdir):
    """Kernel reports of one boot, each with the test that was running."""
    path = os.path.join(outdir, 'dmesg.txt')
    if not os.path.exists(path):
        path = os.path.join(outdir, 'console.log')
    found, current = [], 'boot'
    try:
        lines = open(path, errors='replace').read().splitlines()
    except OSError:
        return path, []
    for i, line in enumerate(lines):
        m = re.search(r'mthp-test: (begin|end) (\S+)', line)
        if m:
            current = m.group(2) if m.group(1) == 'begin' else 'between tests'
            continue
        if REPORT_RE.search(line):
            found.append((current, lines[i:i + 12]))
    return path, found


class Runner:
    def __init__(self, args):
        self.args = args
        self.n = 0
        self.passed = self.failed = self.skipped = 0
        self.cond = threading.Condition()
        self.accel_lock = threading.Lock()
        self.accel = {}

    def result(self, ok, name, reason='', skip=False):
        def line():
            self.n += 1
            if skip:
                self.skipped += 1
                print('ok %d %s # SKIP %s' % (self.n, name, reason))
            elif ok:
                self.passed += 1
                print('ok %d %s' % (self.n, name))
            else:
                self.failed += 1
                print('not ok %d %s%s' % (self.n, name, ' # ' + reason if reason else ''))
        flush_out(line)

    def boot(self, q, accel, outdir, kernel, initrd, bootno):
        """One boot of q's kernel: the guest asks for tests one at a time
        and gets them from q until q is empty, a test hangs or the guest
        dies.  A test the guest asked for and did not finish is reported
        here; the rest stay in q for the next boot (this worker's or
        another's)."""
        flavour, label = q.flavour, q.label
        for f in os.listdir(outdir):
            if f in ('console.log', 'dmesg.txt') or f.startswith('next.'):
                os.unlink(os.path.join(outdir, f))
        cmd = qemu_cmd(self.args, kernel, initrd, outdir, accel, False)
        qlog = open(os.path.join(outdir, 'qemu.log'), 'w')
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=qlog,
                             stdin=subprocess.DEVNULL)
        current, started = None, None
        asked = 0
        boot_timeout = self.args.boot_timeout or (600 if flavour == 'debug' else 300)
        deadline = time.time() + boot_timeout
        phase = 'boot'
        buf = b''
        t_boot = time.time()
        failure = None
        # An error here (a garbled marker line, say) must not leave the
        # guest running or its test unreported: it ends the boot.
        try:
            while True:
                now = time.time()
                if now > deadline:
                    failure = 'timeout'
                    break
                r, _, _ = select.select([p.stdout], [], [], min(1.0, deadline - now))
                if not r:
                    continue
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    failure = 'exit'
                    break
                buf += chunk
                while b'\n' in buf:
                    raw, buf = buf.split(b'\n', 1)
                    line = raw.decode(errors='replace').rstrip('\r')
                    # A test whose output ends without a newline glues the
                    # marker that follows to its last line.
                    at = line.find('@@mthp ')
                    if at > 0:
                        if current:
                            emit(('' if self.args.plain else '# ') + line[:at])
                        line = line[at:]
                    if not line.startswith('@@mthp '):
                        if current:
                            emit(('' if self.args.plain else '# ') + line)
                        else:
                            note('guest: ' + line)
                        continue
                    word = line.split()
                    if word[1] == 'ready':
                        note('boot %d (%s, %s): %s in %.1f s' % (bootno, label, accel,
                             ' '.join(word[2:]), time.time() - t_boot))
                        phase = 'tests'
                        deadline = time.time() + 60
                    elif word[1] == 'next':
                        if current:
                            self.result(False, '%s/%s' % (label, current.name),
                                        'the guest did not report its end')
                        # The guest waits for next.N in its output share: a
                        # test line, or an empty file when there is none left.
                        t = q.take()
                        asked += 1
                        nxt = os.path.join(outdir, 'next.' + word[2])
                        with open(nxt + '.tmp', 'w') as f:
                            if t:
                                f.write('%s\t%d\t%s\n' % (t.name, t.timeout,
                                                           t.cmd.replace('{base}', q.base)))
                        os.rename(nxt + '.tmp', nxt)
                        current, started = t, time.time()
                        deadline = started + (t.timeout + GRACE if t else 60)
                    elif word[1] == 'begin':
                        started = time.time()
                        deadline = started + current.timeout + GRACE
                    elif word[1] == 'end':
                        rc = int(word[3].split('=')[1])
                        name = '%s/%s' % (label, current.name)
                        note('%s took %s' % (name, word[4].split('=')[1] + ' s'))
                        if rc == 0:
                            self.result(True, name)
                        elif rc == 4:       # kselftest KSFT_SKIP
                            self.result(True, name, 'test skipped itself', skip=True)
                        elif rc in (124, 137):
                            self.result(False, name, 'timed out after %d s (killed in the guest)'
                                        % current.timeout)
                        else:
                            self.result(False, name, 'exit status %d' % rc)
                        current = None
                        deadline = time.time() + 60
                    elif word[1] == 'done':
                        phase = 'done'
                        deadline = time.time() + 30
                    elif word[1] == 'fatal':
                        note('guest init failed: ' + ' '.join(word[2:]))
                if phase == 'done' and p.poll() is not None:
                    break
        except Exception as e:     # pylint: disable=broad-except
            failure = 'runner error: %s' % (str(e) or type(e).__name__)
        if p.poll() is None:
            p.kill()
        p.wait()
        qlog.close()
        console = os.path.join(outdir, 'console.log')
        if phase == 'boot':
            note('boot %d (%s, %s) failed (%s); last guest log lines:' %
                 (bootno, label, accel, 'no ready within %d s' % boot_timeout
                  if failure == 'timeout' else 'qemu exited'))
            for line in log_tail(console) + log_tail(os.path.join(outdir, 'qemu.log'), 5):
                note('  ' + line)
            # Another guest of the kernel may be running its tests; a
            # kernel that fails to boot twice will not boot for the rest.
            if q.lost_boot():
                for t in q.drain():
                    self.result(False, '%s/%s' % (label, t.name), 'guest did not boot')
        elif current:
            why = ('hung: killed after %d s' % (time.time() - started)
                   if failure == 'timeout' else failure if (failure or '').startswith('runner')
                   else 'guest died during the test')
            self.result(False, '%s/%s' % (label, current.name), why)
            note('last guest kernel log lines:')
            for line in log_tail(console):
                note('  ' + line)
        elif phase != 'done':
            note('guest stopped between tests (%s)' % failure)
        # The kernel log of this boot, whatever happened.
        path, reports = kernel_reports(outdir)
        name = '%s/kernel-log-boot%d' % (label, bootno)
        if reports:
            for test, lines in reports[:5]:
                note('kernel report during %s (%s):' % (test, os.path.relpath(path, TOP)))
                for line in lines:
                    note('  ' + line)
            self.result(False, name, '%d kernel report(s)' % len(reports))
        else:
            self.result(True, name)
        return asked

    def files(self, base, flavour):
        kernel = os.path.join(BUILD, base, 'obj-' + flavour, 'arch', 'x86', 'boot', 'bzImage')
        initrd = os.path.join(BUILD, 'initramfs.cpio.gz')
        for f in (kernel, initrd):
            if not os.path.exists(f):
                raise RuntimeError('%s is missing; build it first (make kernel BASE=%s / '
                                   'make initramfs)' % (os.path.relpath(f, TOP), base))
        return kernel, initrd

    def outdir(self, base, flavour, slot):
        """The guest's output share: build/vm/<base>-<flavour>, or with -N
        for a further guest of the same kernel running at the same time."""
        outdir = os.path.join(BUILD, 'vm', '%s-%s%s' % (base, flavour,
                                                        '-%d' % (slot + 1) if slot else ''))
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, 'run.conf'), 'w') as f:
            f.write('MTHP_REPO=%s\nMTHP_MODE=%s\nMTHP_TERM=%s\nMTHP_FLAVOUR=%s\nMTHP_BASE=%s\n' %
                    (shlex.quote(TOP), 'shell' if self.args.shell else 'tests',
                     shlex.quote(os.environ.get('TERM', 'vt100')), flavour, base))
        return outdir

    def shell(self, base, flavour):
        kernel, initrd = self.files(base, flavour)
        outdir = self.outdir(base, flavour, 0)
        accel = self.pick_accel(kernel, initrd)
        cmd = qemu_cmd(self.args, kernel, initrd, outdir, accel, True)
        note('interactive VM (%s); Ctrl-A X quits QEMU' % accel)
        return subprocess.call(cmd)

    def prepare(self, q):
        """Run q's --before command (its kernel's build), its output as
        comments.  Returns whether it succeeded."""
        note('%s: %s' % (q.label, q.before))
        p = subprocess.Popen(q.before, shell=True, cwd=TOP, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        deadline = time.time() + self.args.before_timeout
        buf = b''
        while time.time() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 1.0)
            chunk = os.read(p.stdout.fileno(), 65536) if r else None
            if chunk == b'':
                break
            buf += chunk or b''
            while b'\n' in buf:
                raw, buf = buf.split(b'\n', 1)
                note(raw.decode(errors='replace').rstrip())
        if p.poll() is None and time.time() >= deadline:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            self.result(False, '%s/before' % q.label, 'killed after %d s: %s'
                        % (self.args.before_timeout, q.before))
            return False
        rc = p.wait()
        if rc:
            self.result(False, '%s/before' % q.label, 'exit status %d: %s' % (rc, q.before))
        flush_out()
        return rc == 0

    def guest(self, q, slot):
        """One boot of q's kernel in output share @slot."""
        try:
            kernel, initrd = self.files(q.base, q.flavour)
        except RuntimeError as e:
            for t in q.drain():
                self.result(False, '%s/%s' % (q.label, t.name), str(e))
            return
        outdir = self.outdir(q.base, q.flavour, slot)
        accel = self.pick_accel(kernel, initrd)
        with self.cond:
            q.boots += 1
            bootno = q.boots
        if not self.boot(q, accel, outdir, kernel, initrd, bootno) and q.lost_boot():
            # Guests that ask for nothing: do not boot them again and again.
            for t in q.drain():
                self.result(False, '%s/%s' % (q.label, t.name), 'guest ran no test')

    def worker(self, queues):
        """Take work until there is none: a kernel to build first, else a
        guest for the ready kernel with the fewest guests."""
        while True:
            with self.cond:
                job = None
                while not job:
                    waiting = False
                    # One build at a time: two would only fight over the
                    # cores while the ready kernels' tests wait.
                    building = any(q.state == 'building' for q in queues)
                    for q in queues:
                        if q.state == 'pending' and not building:
                            q.state = 'building'
                            job = ('build', q, 0)
                            break
                    # The kernel with the fewest guests first (the debug
                    # kernel's as soon as it is built), and no more guests
                    # than it has tests left.
                    ready = [q for q in queues if q.state == 'ready' and
                             len(q.tests) > len(q.slots)]
                    if not job and ready:
                        q = min(ready, key=lambda q: len(q.slots))
                        slot = min(set(range(len(q.slots) + 1)) - q.slots)
                        q.slots.add(slot)
                        job = ('guest', q, slot)
                    waiting = any(q.state == 'building' or q.slots for q in queues
                                  if q.tests)
                    if not job:
                        if not waiting:
                            return
                        self.cond.wait()
            kind, q, slot = job
            if kind == 'build':
                ok = self.prepare(q)
                with self.cond:
                    q.state = 'ready' if ok else 'failed'
                    self.cond.notify_all()
                if not ok:
                    for t in q.drain():
                        self.result(False, '%s/%s' % (q.label, t.name),
                                    'not run: --before failed')
            else:
                try:
                    self.guest(q, slot)
                finally:
                    with self.cond:
                        q.slots.discard(slot)
                        self.cond.notify_all()

    def pick_accel(self, kernel, initrd):
        if self.args.accel != 'auto':
            return self.args.accel
        with self.accel_lock:
            if kernel not in self.accel:
                ok, why = kvm_usable(kernel, initrd)
                if not ok:
                    note('KVM not usable (%s); using TCG' % why)
                self.accel[kernel] = 'kvm' if ok else 'tcg'
            return self.accel[kernel]


class TestQueue:
    """The tests still to run on one kernel (base and flavour), shared by
    the guests that run them.  Longest timeout first: with two guests on
    one queue, the long tests start early and the short ones fill in at
    the end."""

    def __init__(self, runner, base, flavour, tests, before=None):
        self.runner, self.base, self.flavour, self.before = runner, base, flavour, before
        self.label = '%s/%s' % (base, flavour)
        self.tests = sorted(tests, key=lambda t: -t.timeout)
        self.state = 'pending' if before else 'ready'
        self.slots = set()      # output shares in use
        self.boots = 0
        self.lost = 0           # boots in a row that ran no test

    def take(self):
        with self.runner.cond:
            self.lost = 0
            return self.tests.pop(0) if self.tests else None

    def lost_boot(self):
        """Count a boot that ran nothing; True when the tests left should
        be given up: no other guest of this kernel runs, or it happened
        twice in a row."""
        with self.runner.cond:
            self.lost += 1
            return self.lost >= 2 or len(self.slots) <= 1

    def drain(self):
        with self.runner.cond:
            tests, self.tests = self.tests, []
            return tests


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('tests', nargs='*', help='test names or shell patterns (default: all)')
    ap.add_argument('--base', default='7.3',
                    help='kernel bases to run, comma-separated: 7.3,6.12')
    ap.add_argument('--flavour', default='normal',
                    help='kernel flavours to run, comma-separated: normal,debug')
    ap.add_argument('--kernels', default='', metavar='BASE/FLAVOUR,...',
                    help='the kernels to run, in place of --base x --flavour: '
                    'e.g. 7.3/normal,6.12/normal,6.12/debug')
    ap.add_argument('--accel', choices=('auto', 'kvm', 'tcg'), default='auto')
    ap.add_argument('--mem', default='2G')
    ap.add_argument('--smp', type=int, default=2)
    ap.add_argument('--jobs', type=int, default=0,
                    help='guests (and --before commands) at a time (default: the '
                    'host\'s CPUs, at most 2; 1 with --plain)')
    ap.add_argument('--before', action='append', default=[], metavar='BASE/FLAVOUR:CMD',
                    help="run CMD (e.g. build that kernel) before that kernel's tests, "
                    "beside the other kernels' tests")
    ap.add_argument('--before-timeout', type=int, default=3600,
                    help='seconds a --before command may take (default 3600)')
    ap.add_argument('--boot-timeout', type=int, default=0,
                    help='seconds to the test runner (default 300, debug kernel 600)')
    ap.add_argument('--append', default='', help='extra kernel command line')
    ap.add_argument('--shell', action='store_true', help='boot to an interactive shell')
    ap.add_argument('--list', action='store_true', help='list the tests and exit')
    ap.add_argument('--serial', action='store_true',
                    help='one guest at a time (--jobs 1; overrides --jobs)')
    ap.add_argument('--plain', action='store_true',
                    help="print the tests' output as it is, not as TAP comments")
    args = ap.parse_args()

    import fnmatch
    manifest = read_manifest()
    if args.tests:
        picked = [t for t in manifest if any(fnmatch.fnmatchcase(t.name, pat)
                                             for pat in args.tests)]
        unknown = [pat for pat in args.tests
                   if not any(fnmatch.fnmatchcase(t.name, pat) for t in manifest)]
        if unknown:
            sys.exit('run.py: no such test: %s (see --list)' % ', '.join(unknown))
    else:
        picked = manifest
    if args.list:
        for t in picked:
            print('%-36s %5d s  %-14s %s' % (t.name, t.timeout, ','.join(t.flavours), t.cmd))
        return 0
    if not shutil.which('qemu-system-x86_64'):
        sys.exit('run.py: qemu-system-x86_64 not found (run scripts/deps.sh)')

    runner = Runner(args)
    if args.kernels:
        kernels = [tuple(k.split('/', 1)) if '/' in k else (k, '') for k in
                   args.kernels.split(',')]
    else:
        kernels = [(b, f) for b in args.base.split(',') for f in args.flavour.split(',')]
    for b, f in kernels:
        if b not in ('7.3', '6.12'):
            sys.exit('run.py: unknown base %r (7.3, 6.12)' % b)
        if f not in ('normal', 'debug'):
            sys.exit('run.py: unknown flavour %r (normal, debug)' % f)
    if args.shell:
        try:
            return runner.shell(*kernels[0])
        except RuntimeError as e:
            sys.exit('run.py: %s' % e)
    labels = ['%s/%s' % k for k in kernels]
    before = {}
    for b in args.before:
        label, sep, cmd = b.partition(':')
        if not sep or label not in labels or not cmd:
            sys.exit('run.py: --before %r: expected BASE/FLAVOUR:CMD for a kernel of '
                     '--base and --flavour' % b)
        before[label] = cmd
    jobs = 1 if args.plain or args.serial else args.jobs or min(2, os.cpu_count() or 1)
    print('TAP version 13', flush=True)
    t0 = time.time()
    queues = []
    for base, flavour in kernels:
        tests = [t for t in picked if args.tests or t.runs_on(base, flavour)]
        if tests:
            queues.append(TestQueue(runner, base, flavour, tests,
                                    before.get('%s/%s' % (base, flavour))))
    if jobs > 1:
        # Under TCG one guest keeps about one host CPU busy: run two, and
        # build the debug kernel beside the normal kernel's tests.
        def work():
            _out.buf = []
            try:
                runner.worker(queues)
            except BaseException as e:
                runner.result(False, 'runner', str(e) or type(e).__name__)
                with runner.cond:
                    for q in queues:
                        for t in q.drain():
                            runner.result(False, '%s/%s' % (q.label, t.name),
                                          'not run: runner error')
                    runner.cond.notify_all()
            finally:
                flush_out()
        threads = [threading.Thread(target=work) for _ in range(jobs)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    else:
        runner.worker(queues)
    print('1..%d' % runner.n)
    note('%d skipped; %.0f s in the VM' % (runner.skipped, time.time() - t0))
    print('%d passed, %d failed' % (runner.passed, runner.failed), flush=True)
    return 1 if runner.failed else 0


if __name__ == '__main__':
    sys.exit(main())
