"""The run order is derived from the steps' declarations."""

import pytest

from guestfix.core.errors import StepOrderError
from guestfix.fix.steps import Step, registry
from guestfix.fix.steps.order import ordered


def step(name, reads=(), after=(), changes_facts=False):
    s = Step()
    s.name, s.reads, s.after, s.changes_facts = name, tuple(reads), tuple(after), changes_facts
    return s


def test_derived_order_is_the_documented_one():
    """Every step module is found; the edits that do not depend on each
    other run by name, the regenerations after what they read."""
    assert [s.name for s in registry()] == [
        "install-packages",
        "bootloader-config",
        "console",
        "device-names",
        "initrd-modules",
        "kernel-arguments",
        "nic-names",
        "cleanup",
        "regenerate-initrd",
        "boot-code",
        "uefi-boot",
        "regenerate-grub-cfg",
        "default-kernel",
        "check-grub-cfg",
    ]


def test_dependencies_outrank_names():
    out = ordered([step("a", reads=["b"]), step("b"), step("c", after=["a"])])
    assert [s.name for s in out] == ["b", "a", "c"]


def test_a_facts_changing_step_runs_before_the_others():
    out = ordered([step("plain"), step("installs", changes_facts=True)])
    assert [s.name for s in out] == ["installs", "plain"]


def test_a_cycle_is_refused():
    with pytest.raises(StepOrderError, match="circle: a, b"):
        ordered([step("a", reads=["b"]), step("b", after=["a"]), step("c")])
    with pytest.raises(StepOrderError, match="circle"):
        ordered([step("self", reads=["self"])])


def test_a_missing_dependency_is_refused():
    with pytest.raises(StepOrderError, match="step a depends on gone, which is not a step"):
        ordered([step("a", reads=["gone"])])


def test_a_duplicate_name_is_refused():
    with pytest.raises(StepOrderError, match="two steps are named a"):
        ordered([step("a"), step("a")])
