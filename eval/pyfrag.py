"""make eval's python3 program: the heap of a long-running service.

  pyfrag.py MIB SEED

Grows dicts, lists, strings and bytes until the process's anonymous RSS
(RssAnon) reaches MIB, frees a random share of them (40-60%), then grows
again with other sizes (larger dicts and buffers) until RssAnon is up by a
quarter of MIB: pymalloc's arenas and malloc's heap are left with holes,
as a service's are after hours of churn.  Same SEED (and PYTHONHASHSEED,
and no ASLR), same heap: eval.py starts it once per arm.

Then it prints "ready" and waits, idle, on stdin: "poke" maps 4 MiB of
anonymous memory, writes a byte, madvises it MADV_HUGEPAGE and unmaps it:
that makes khugepaged take this process on (see eval/README.md); the heap
itself is not madvised.  It prints "poked"; end of input ends
it.  Our code only drives CPython: the memory layout is CPython's.
"""

import gc
import mmap
import random
import sys

mib, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)


def rss_anon():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('RssAnon:'):
                return int(line.split()[1]) << 10
    return 0


def small():
    kind = rng.randrange(4)
    if kind == 0:
        return {('k%d' % i): 'v' * rng.randrange(8, 90) for i in range(rng.randrange(2, 10))}
    if kind == 1:
        return [rng.random() for _ in range(rng.randrange(4, 40))]
    if kind == 2:
        return 's' * rng.randrange(16, 400)
    return (rng.randrange(1 << 40), str(rng.random()), b'x' * rng.randrange(8, 200))


def large():
    kind = rng.randrange(3)
    if kind == 0:
        return {i: 'w' * rng.randrange(40, 300) for i in range(rng.randrange(20, 60))}
    if kind == 1:
        return bytes(rng.randrange(600, 6000))
    return list(range(rng.randrange(100, 400)))


objs = []
while rss_anon() < mib << 20:
    objs.extend(small() for _ in range(2000))
share = rng.uniform(0.4, 0.6)
objs = [o for o in objs if rng.random() >= share]
gc.collect()
goal = rss_anon() + (mib << 18)
while rss_anon() < goal:
    objs.extend(large() for _ in range(500))

print('ready', len(objs), flush=True)
for line in sys.stdin:
    if line.strip() == 'poke':
        m = mmap.mmap(-1, 4 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        m[0] = 1                        # an anon_vma (and maybe a 2M fault)
        m.madvise(mmap.MADV_HUGEPAGE)   # registers the mm with khugepaged
        m.close()                       # the mm stays registered
        print('poked', flush=True)
