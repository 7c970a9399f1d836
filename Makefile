# guestfix — set-up, tests and the demo on a Debian 12 host (run as root).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := libguestfs-tools linux-image-amd64 qemu-system-x86 qemu-utils \
	libvirt-daemon-system libvirt-clients python3-venv python3-guestfs \
	python3-libvirt debootstrap libxml2-utils busybox nbdkit nbdkit-plugin-python \
	libguestfs-xfs ovmf dosfstools mtools
# The tests run their own sshd (a stand-in Xen host on 127.0.0.1), build
# xen-tools guests with the real xen-create-image (it pulls in Xen's
# hypervisor packages, which nothing here runs) and make xfs images; the
# stand-in XenServer pool master serves HTTPS with a certificate openssl makes.
# Installed with services kept from starting (policy-rc.d), so the machine
# does not get an sshd of its own on port 22 from `make test`.
TEST_PACKAGES := openssh-server xen-tools xfsprogs openssl
# What `make bench` compares against (nbdcopy, which virt-v2v copies with,
# is in libnbd-bin).
BENCH_PACKAGES := virt-v2v libnbd-bin
# Nested KVM is not usable on the CI machines: libguestfs and test boots
# run under TCG unless the caller says otherwise.
export LIBGUESTFS_BACKEND_SETTINGS ?= force_tcg
export GUESTFIX_TCG ?= 1
export GUESTFIX_TEST_CACHE ?= /var/cache/guestfix-test

.PHONY: setup apt venv test test-packages test-fast lint fuzz stress demo bench clean

# Install the Debian packages among $(1) that are missing.
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
endef

setup: apt venv

apt:
	$(call apt_install,$(APT_PACKAGES))
	@ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "no kernel in /boot for the libguestfs appliance"; exit 1; }

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Two workers (pytest-xdist): the suite's time is mostly single-threaded
# TCG QEMU, so a second core nearly halves it. Groups and their order:
# tests/conftest.py. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: setup test-packages lint
	$(PY) -m pytest -v -ra --durations=25 -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# ruff (configured in pyproject.toml) on the whole tree: lint and format.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-packages:
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		guard=; [ -e /usr/sbin/policy-rc.d ] || { guard=1; printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; rc=$$?; \
		[ -z "$$guard" ] || rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi

# Each parser of outside input on 10,000 generated inputs (make test runs a
# short pass of the same property tests).
fuzz: venv
	GUESTFIX_FUZZ=fuzz $(PY) -m pytest -v tests/test_fuzz.py

# 50 appliance launches cut off at random moments under load: no run may
# abort (tests/launch_cuts.py; make test runs a few rounds).
stress: setup
	$(PY) tests/launch_cuts.py 50

# Without the tests marked slow: those launch the appliance, boot a guest or
# need libvirtd.
test-fast: venv test-packages
	$(PY) -m pytest -v -m "not slow"

demo: setup
	$(PY) test-images/demo.py

# Benchmarks (not tests): guestfix vs virt-v2v and the guide's manual route.
# BENCH_ARGS="--runs 5" or "--only backup" to vary; results in bench/RESULTS.md.
bench: setup
	$(call apt_install,$(BENCH_PACKAGES))
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
