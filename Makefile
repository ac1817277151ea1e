# mthp-bpf: khugepaged mTHP collapse with a BPF struct_ops order policy.
# `make check` and `make demo` work from a bare Debian 12 machine; see README.md.

S := scripts/stage
comma := ,
# The kernel base: 7.3 (mainline) or 6.12 (the LTS backport); kernel/$(BASE)/
# holds its series.  User space (libbpf, bpftool, policies, loader, our
# selftests) is built once, from USER_BASE's tree and kernel, for both.
# 6.12 until the 7.3 series carries the hook.
BASE ?= 6.12
USER_BASE ?= 6.12
export BASE USER_BASE
UAPI := $(CURDIR)/build/$(USER_BASE)/obj-normal/usr/include
FLAVOURS ?= normal
# make check runs every test on both kernels: the debug one (KASAN, lockdep,
# DEBUG_VM) is what proves the page-table and locking changes safe.
CHECK_FLAVOURS ?= normal,debug
RUN := python3 selftests/vm/run.py
RUNFLAGS ?=

.PHONY: all deps tree kernel kernel-debug user-kernel userspace policies loader selftests initramfs \
	build build-debug check demo vm test list bench export-patches reset-tree clean distclean

all: build

deps:
	@$(S) deps scripts/deps.sh

tree: deps
	@$(S) source scripts/source.sh
	@$(S) extract scripts/tree.sh ensure

kernel: tree
	@$(S) kernel scripts/build-kernel.sh normal

kernel-debug: tree
	@$(S) kernel-dbg scripts/build-kernel.sh debug

# User space needs USER_BASE's normal kernel (its BTF and UAPI headers).
user-kernel:
	@$(MAKE) --no-print-directory kernel BASE=$(USER_BASE)

userspace: $(if $(filter $(BASE),$(USER_BASE)),kernel,user-kernel)
	@$(S) userspace scripts/build-userspace.sh

policies: userspace
	@$(S) policies $(MAKE) -s -C bpf-policies

loader: policies
	@$(S) loader $(MAKE) -s -C loader UAPI=$(UAPI)

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
	--before '$(BASE)/debug:nice -n 10 $(MAKE) --no-print-directory kernel-debug')
RUNBASE := $(RUN) --base $(BASE)

check: build
	@$(S) vm-tests $(RUNBASE) --flavour $(CHECK_FLAVOURS) \
		$(call before-debug,$(CHECK_FLAVOURS)) $(RUNFLAGS)

demo: build
	@$(RUNBASE) --plain demo

# make test T='mm/cow kunit' [FLAVOURS=debug] [BASE=7.3]
test: build
	@$(RUNBASE) --flavour $(FLAVOURS) $(call before-debug,$(FLAVOURS)) $(RUNFLAGS) $(T)

list:
	@$(RUN) --list

# Per-call cost of the BPF default policy against the kernel's planner.
bench: build
	@$(RUNBASE) --plain bench

vm: build
	@$(RUNBASE) --shell --flavour $(FLAVOURS)

export-patches:
	@scripts/tree.sh export

reset-tree: deps
	@scripts/tree.sh reset

clean:
	rm -rf build/*/obj-* build/*/mm-selftests build/tools build/selftests build/vm \
		build/initramfs.cpio.gz build/bpf-policies build/loader

distclean:
	rm -rf build
