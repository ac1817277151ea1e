# mthp-bpf: khugepaged mTHP collapse with a BPF struct_ops order policy.
# `make check` and `make demo` work from a bare Debian 12 machine; see README.md.

S := scripts/stage
comma := ,
# The kernel base: 7.3 (mainline) or 6.12 (the LTS backport); kernel/$(BASE)/
# holds its series.  User space (libbpf, bpftool, policies, loader, our
# selftests) is built once, from USER_BASE's tree and kernel, for both.
BASE ?= 7.3
USER_BASE ?= 7.3
export BASE USER_BASE
UAPI := $(CURDIR)/build/$(USER_BASE)/obj-normal/usr/include
FLAVOURS ?= normal
# make check runs every test on each of these kernels: the debug ones
# (KASAN, lockdep, DEBUG_VM) are what prove the page-table and locking
# changes safe.  7.3's debug kernel is run by hand for now
# (make test FLAVOURS=debug): with it, make check would pass an hour.
CHECK_KERNELS ?= 7.3/normal,6.12/normal,6.12/debug
# make stress: the race, churn and fuzz tests for longer (selftests/TESTS,
# stress/*), on the kernels that catch what races break.
STRESS_KERNELS ?= 7.3/debug,6.12/debug
RUN := python3 selftests/vm/run.py
RUNFLAGS ?=

.PHONY: all deps tree kernel kernel-debug user-kernel userspace policies loader selftests initramfs \
	build build-debug check stress demo vm test list bench eval export-patches reset-tree clean distclean

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
	@$(S) space scripts/space.sh $(BASE)/normal
	@$(MAKE) --no-print-directory kernel
	@$(MAKE) --no-print-directory userspace policies loader selftests initramfs

build-debug: build
	@$(MAKE) --no-print-directory kernel-debug

# Every kernel but BASE's normal one builds beside the tests, one at a time
# (niced: the tests' timing matters more than the builds'), and its tests
# start as soon as it is built.  Another base's kernel brings its tree and
# the tree's mm selftests.
before-kernel = --before '$(1):nice -n 10 $(MAKE) --no-print-directory \
	$(if $(filter %/debug,$(1)),kernel-debug,kernel) \
	$(if $(filter $(BASE)/%,$(1)),,selftests) BASE=$(firstword $(subst /, ,$(1)))'
before-kernels = $(foreach k,$(subst $(comma), ,$(1)),\
	$(if $(filter $(BASE)/normal,$(k)),,$(call before-kernel,$(k))))
before-debug = $(if $(filter debug,$(subst $(comma), ,$(1))),\
	$(call before-kernel,$(BASE)/debug))
RUNBASE := $(RUN) --base $(BASE)

check:
	@$(S) space scripts/space.sh $(CHECK_KERNELS)
	@$(MAKE) --no-print-directory build
	@$(S) vm-tests $(RUN) --kernels $(CHECK_KERNELS) \
		$(call before-kernels,$(CHECK_KERNELS)) $(RUNFLAGS)

stress:
	@$(S) space scripts/space.sh $(STRESS_KERNELS)
	@$(MAKE) --no-print-directory build
	@$(S) vm-stress $(RUN) --kernels $(STRESS_KERNELS) \
		$(call before-kernels,$(STRESS_KERNELS)) $(RUNFLAGS) 'stress/*'

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

# Bloat against folio sizes per collapse arm on real programs (eval/README.md);
# EVAL_SHORT=1 for a short run.  The guest reads EVAL_* from build/eval.env.
eval: build
	@printf 'EVAL_SHORT=%s\nEVAL_RUNS=%s\nEVAL_MIB=%s\n' '$(EVAL_SHORT)' '$(EVAL_RUNS)' '$(EVAL_MIB)' > build/eval.env
	@$(RUNBASE) --plain eval

vm: build
	@$(RUNBASE) --shell --flavour $(FLAVOURS)

export-patches:
	@scripts/tree.sh export

reset-tree: deps
	@scripts/tree.sh reset

clean:
	rm -rf build/*/obj-* build/*/mm-selftests build/*/bpf-selftests build/tools build/selftests build/vm \
		build/initramfs.cpio.gz build/bpf-policies build/loader

distclean:
	rm -rf build
