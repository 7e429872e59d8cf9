# vm/vm.mk: the disposable cgroup v2 + systemd node (vm/README.md). The Makefile includes it.
#
#   make vm-test       build (or reuse) the Debian image, boot it under qemu, run the guest suites
#   make vm-deps       install the host tools the VM test needs, if any is missing
#   make vm-clean      drop the cached image and the last run's logs
#
# make test runs vm-test-auto, which runs vm-test where the machine can: as root with apt-get (to
# install qemu) or qemu already present. VM=0 turns it off.

VM_TOOLS := qemu-system-x86_64 debootstrap mkfs.ext4 wget
VM_DEB_PACKAGES := qemu-system-x86 debootstrap e2fsprogs wget debian-archive-keyring
# The bound on the whole VM test: image build, boot and suites (CI's limit is 90 minutes).
VM_TIMEOUT ?= 40m

.PHONY: vm-deps vm-test vm-test-auto vm-clean

vm-deps:
	@for t in $(VM_TOOLS); do command -v $$t >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
		echo "installing: $(VM_DEB_PACKAGES)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $(VM_DEB_PACKAGES); \
	fi

# -count=1: the suites read a live guest, never a cached pass. -v: the log shows every guest check.
vm-test: vm-deps build/go.mod
	PROCFSD_VM=1 $(or $(GO),go) test -count=1 -v -timeout $(VM_TIMEOUT) -run '^TestVM$$' ./vm

vm-test-auto:
	@if [ "$(VM)" = 0 ]; then echo "vm-test: off (VM=0)"; \
	elif [ "$$(id -u)" != 0 ]; then echo "vm-test: skipped, not root"; \
	elif ! command -v qemu-system-x86_64 >/dev/null && ! command -v apt-get >/dev/null; then \
		echo "vm-test: skipped, no qemu-system-x86_64 and no apt-get to install it"; \
	else $(MAKE) --no-print-directory vm-test; fi

vm-clean:
	rm -rf build/vm

test: vm-test-auto
