"""The sample-image builder's cold-cache path, as the demo and the tests
call it: whatever the tools it runs print on standard output never reaches
the caller, which gets exactly the domain XML's path.

A warm cache returns before any tool runs, so these tests build into an
empty cache of their own, with the tools the build runs behind a PATH
whose `sfdisk` first prints progress lines on its stdout, as debootstrap
and update-initramfs do (and mke2fs and mkswap print their own).
"""

import os
import subprocess
import sys

import pytest
from conftest import REPO
from samples import sample_guest

pytestmark = pytest.mark.slow

NOISE = "I: Retrieving InRelease (progress a tool prints on stdout)"
LAYOUT = "c15"  # the cheapest layout: a file-level tree, made with host tools


@pytest.fixture(scope="module")
def noisy_env(tmp_path_factory):
    bin_dir = tmp_path_factory.mktemp("noisy-bin")
    sfdisk = bin_dir / "sfdisk"
    sfdisk.write_text(f"#!/bin/sh\necho '{NOISE}'\nexec /usr/sbin/sfdisk \"$@\"\n")
    sfdisk.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")


@pytest.fixture(scope="module")
def cold_build(tmp_path_factory, noisy_env):
    cache = str(tmp_path_factory.mktemp("empty-cache"))
    assert os.listdir(cache) == []
    return cache


def test_cold_cache_gives_the_caller_only_the_path(cold_build, noisy_env, capfd):
    xml = sample_guest(LAYOUT, cache=cold_build, env=noisy_env)
    out, err = capfd.readouterr()
    assert os.path.isfile(xml) and xml.startswith(cold_build + "/"), xml
    assert xml.endswith(f"/xenguest-{LAYOUT}.xml")
    # the noisy tool really ran on this path, and its lines went to stderr
    assert NOISE in err
    assert NOISE not in out
    with open(xml) as f:
        assert "<domain type='xen'>" in f.read()


def test_stdout_holds_one_line_without_a_result_file(cold_build, noisy_env):
    """build.py run by hand prints the path as its only stdout line."""
    r = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "test-images", "build.py"),
            LAYOUT,
            "--cache",
            cold_build,
        ],
        capture_output=True,
        text=True,
        env=noisy_env,
        check=True,
    )
    assert r.stdout.count("\n") == 1 and os.path.isfile(r.stdout.strip()), r.stdout


def test_a_failed_build_is_one_clear_error(tmp_path):
    """A builder that dies leaves no half path for the caller to use."""
    cache = tmp_path / "cache"
    cache.write_text("a file where the cache directory should be")
    from samples import SampleBuildError

    with pytest.raises(SampleBuildError, match="building the sample guest"):
        sample_guest(LAYOUT, cache=str(cache))


def test_builders_of_one_layout_at_once_build_it_once(tmp_path, noisy_env):
    """The suite's workers may ask for the same image at the same moment:
    the second builder waits for the first and takes its image."""
    cache = str(tmp_path / "cache")
    argv = [
        sys.executable,
        os.path.join(REPO, "test-images", "build.py"),
        LAYOUT,
        "--cache",
        cache,
    ]
    builders = [
        subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=noisy_env
        )
        for _ in range(2)
    ]
    outputs = [b.communicate(timeout=600) for b in builders]
    assert [b.returncode for b in builders] == [0, 0], [err[-2000:] for _, err in outputs]
    paths = {out.strip() for out, _ in outputs}
    assert len(paths) == 1 and os.path.isfile(paths.pop())
    # the partitioning (sfdisk) of one build, not two
    assert sum(err.count(NOISE) for _, err in outputs) == 1
