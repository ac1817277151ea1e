"""make eval: a process's anonymous resident memory by folio size.

Reads /proc/PID/maps, /proc/PID/pagemap (the PFN of each present page:
needs CAP_SYS_ADMIN, root in the guest) and /proc/kpageflags (each frame's
flags).  A folio is found from the virtual side: a head page followed, at
the next virtual pages, by the next frames flagged as tails; its order is
the log2 of that run.  A tail met without its head (a folio mapped only in
part) counts as order 0 and in `orphan_tails`.  Only anonymous frames
(KPF_ANON) count: file pages and the zero page do not.

Written for eval/eval.py (stdlib only; the loader's C reader is not used:
the eval must not depend on the code it evaluates).
"""

from array import array
import os

PAGE = 4096
PM_PRESENT = 1 << 63
PM_PFN = (1 << 55) - 1
KPF_ANON = 1 << 12
KPF_HEAD = 1 << 15
KPF_TAIL = 1 << 16
KPF_BLOCK = 512          # kpageflags entries read at a time (4 KiB)
PM_CHUNK = 1 << 16       # pagemap entries read at a time (512 KiB)
SKIP = ('[vsyscall]', '[vvar]', '[vdso]', '[vvar_vclock]')


def vmas(pid):
    """[(start_vpn, end_vpn)] of the private, accessible mappings."""
    out = []
    with open('/proc/%d/maps' % pid) as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split('-'))
            perms = parts[1]
            name = parts[5] if len(parts) > 5 else ''
            if name in SKIP or perms[3] != 'p' or perms[:3] == '---':
                continue
            out.append((lo // PAGE, hi // PAGE))
    return out


class Layout:
    """One reading: anon pages by folio order, and the present anon pages
    of each VMA (vpns, for the zero-bloat optimum)."""

    def __init__(self):
        self.rss = 0                 # anon pages
        self.by_order = {}           # order -> pages
        self.orphan_tails = 0
        self.vma_pages = []          # per VMA: (lo, hi, sorted anon vpns)
        self.span = 0                # pages of the VMAs read (PMD-rounded)

    def large(self, min_order=2):
        return sum(n for o, n in self.by_order.items() if o >= min_order)

    def key(self):
        return (self.rss, tuple(sorted(self.by_order.items())))


def read(pid, keep_vpns=False):
    lay = Layout()
    kpf_cache = {}
    with open('/proc/%d/pagemap' % pid, 'rb', buffering=0) as pm, \
         open('/proc/kpageflags', 'rb', buffering=0) as kf:

        def flags(pfn):
            blk = pfn // KPF_BLOCK
            a = kpf_cache.get(blk)
            if a is None:
                a = array('Q')
                a.frombytes(os.pread(kf.fileno(), KPF_BLOCK * 8, blk * KPF_BLOCK * 8))
                kpf_cache[blk] = a
            i = pfn % KPF_BLOCK
            return a[i] if i < len(a) else 0

        for lo, hi in vmas(pid):
            lay.span += ((hi + 511) // 512 - lo // 512) * 512
            present = []             # (vpn, pfn) in vpn order
            for s in range(lo, hi, PM_CHUNK):
                n = min(PM_CHUNK, hi - s)
                a = array('Q')
                a.frombytes(os.pread(pm.fileno(), n * 8, s * 8))
                for i, e in enumerate(a):
                    if e & PM_PRESENT:
                        present.append((s + i, e & PM_PFN))
            anon = []
            i = 0
            while i < len(present):
                vpn, pfn = present[i]
                fl = flags(pfn)
                if not fl & KPF_ANON:
                    i += 1
                    continue
                n = 1
                if fl & KPF_HEAD:
                    while (i + n < len(present) and present[i + n] == (vpn + n, pfn + n)
                           and flags(pfn + n) & KPF_TAIL):
                        n += 1
                elif fl & KPF_TAIL:
                    lay.orphan_tails += 1
                order = n.bit_length() - 1
                lay.by_order[order] = lay.by_order.get(order, 0) + n
                lay.rss += n
                if keep_vpns:
                    anon.extend(range(vpn, vpn + n))
                i += n
            if keep_vpns:
                lay.vma_pages.append((lo, hi, anon))
    return lay


def optimum(lay, orders, reachable=True):
    """The zero-bloat optimum of a reading taken with keep_vpns: pages that
    lie in fully occupied, naturally aligned chunks of the given orders, by
    the largest such order of each page ({order: pages}).  A chunk full at
    order k is full at every smaller order, so the pages whose largest full
    chunk is k are those full at k less those full at the next larger one.
    reachable: only chunks inside a 2M range that lies wholly in its VMA,
    the only ranges khugepaged scans (a VMA's unaligned ends are not)."""
    full = {}
    for k in orders:
        n = 0
        for lo, hi, vpns in lay.vma_pages:
            if reachable:
                first, last = (lo + 511) // 512 * 512, hi // 512 * 512
                vpns = [v for v in vpns if first <= v < last]
            count = {}
            for v in vpns:
                count[v >> k] = count.get(v >> k, 0) + 1
            n += sum(c for c in count.values() if c == 1 << k)
        full[k] = n
    ks = sorted(orders)
    return {k: full[k] - (full[ks[j + 1]] if j + 1 < len(ks) else 0) for j, k in enumerate(ks)}
