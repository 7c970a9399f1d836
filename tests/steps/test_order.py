"""The run order is derived from the steps' declarations."""

import pytest

from guestfix.errors import StepOrderError
from guestfix.steps import Step, registry
from guestfix.steps.order import ordered


def step(name, position=0, reads=(), after=(), changes_facts=False):
    s = Step()
    s.name, s.position, s.reads, s.after, s.changes_facts = \
        name, position, tuple(reads), tuple(after), changes_facts
    return s


def test_derived_order_is_the_documented_one():
    assert [s.name for s in registry()] == [
        "install-packages", "initrd-modules", "device-names", "bootloader-config",
        "kernel-arguments", "console",
        "nic-names", "cleanup", "regenerate-initrd", "boot-code", "regenerate-grub-cfg",
        "default-kernel", "check-grub-cfg"]


def test_dependencies_outrank_positions():
    out = ordered([step("a", 0, reads=["b"]), step("b", 1), step("c", 2, after=["a"])])
    assert [s.name for s in out] == ["b", "a", "c"]


def test_a_facts_changing_step_runs_before_the_others():
    out = ordered([step("plain", 0), step("installs", 5, changes_facts=True)])
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
