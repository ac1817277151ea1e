# mthp-bpf: khugepaged mTHP collapse with a BPF struct_ops order policy.
# `make check` and `make demo` work from a bare Debian 12 machine; see README.md.

S := scripts/stage
comma := ,
FLAVOURS ?= normal
# make check runs every test on both kernels: the debug one (KASAN, lockdep,
# DEBUG_VM) is what proves the page-table and locking changes safe.
CHECK_FLAVOURS ?= normal,debug
RUN := python3 selftests/vm/run.py
RUNFLAGS ?=

.PHONY: all deps tree kernel kernel-debug userspace policies loader selftests initramfs \
	build build-debug check demo vm test list bench export-patches reset-tree clean distclean

all: build

deps:
	@$(S) deps scripts/deps.sh

tree: deps
	@$(S) extract scripts/tree.sh ensure

kernel: tree
	@$(S) kernel scripts/build-kernel.sh normal

kernel-debug: tree
	@$(S) kernel-dbg scripts/build-kernel.sh debug

userspace: kernel
	@$(S) userspace scripts/build-userspace.sh normal

policies: userspace
	@$(S) policies $(MAKE) -s -C bpf-policies

loader: policies
	@$(S) loader $(MAKE) -s -C loader

selftests: kernel userspace
	@$(S) selftests scripts/build-selftests.sh

initramfs: deps
	@$(S) initramfs selftests/vm/mkinitramfs.sh

# Everything the normal-kernel tests need.  Stages run in order: each one
# reports its time, and the two kernels would only fight over two cores.
build:
	@$(MAKE) --no-print-directory kernel
	@$(MAKE) --no-print-directory userspace policies loader selftests initramfs

build-debug: build
	@$(MAKE) --no-print-directory kernel-debug

# With the debug kernel, its build runs beside the normal kernel's tests
# (niced: the tests' timing matters more than the build's), and its tests
# start as soon as it is built.
before-debug = $(if $(filter debug,$(subst $(comma), ,$(1))),\
	--before 'debug:nice -n 10 $(MAKE) --no-print-directory kernel-debug')

check: build
	@$(S) vm-tests $(RUN) --flavour $(CHECK_FLAVOURS) $(call before-debug,$(CHECK_FLAVOURS)) \
		$(RUNFLAGS)

demo: build
	@$(RUN) --plain demo

# make test T='mm/cow kunit' [FLAVOURS=debug]
test: build
	@$(RUN) --flavour $(FLAVOURS) $(call before-debug,$(FLAVOURS)) $(RUNFLAGS) $(T)

list:
	@$(RUN) --list

# Per-call cost of the BPF default policy against the kernel's planner.
bench: build
	@$(RUN) --plain bench

vm: build
	@$(RUN) --shell --flavour $(FLAVOURS)

export-patches:
	@scripts/tree.sh export

reset-tree: deps
	@scripts/tree.sh reset

clean:
	rm -rf build/obj-* build/tools build/selftests build/vm build/initramfs.cpio.gz \
		build/bpf-policies build/loader

distclean:
	rm -rf build
