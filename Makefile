# guestfix — set-up, tests and the demo on a Debian 12 host (run as root).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := libguestfs-tools linux-image-amd64 qemu-system-x86 qemu-utils \
	libvirt-daemon-system libvirt-clients python3-venv python3-guestfs \
	python3-libvirt debootstrap libxml2-utils busybox
# Nested KVM is not usable on the CI machines: libguestfs and test boots
# run under TCG unless the caller says otherwise.
export LIBGUESTFS_BACKEND_SETTINGS ?= force_tcg
export GUESTFIX_TCG ?= 1
export GUESTFIX_TEST_CACHE ?= /var/cache/guestfix-test

.PHONY: setup apt venv test test-fast demo clean

setup: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
	@ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "no kernel in /boot for the libguestfs appliance"; exit 1; }

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

test: setup
	$(PY) -m pytest -v -ra --durations=15

test-fast: venv
	$(PY) -m pytest -v -m "not slow"

demo: setup
	$(PY) -m guestfix.demo

clean:
	rm -rf $(VENV) build *.egg-info
