"""Reading the serial console: login prompt, probe lines, stages."""

from guestfix.bootcheck import LOGIN_RE, parse_probe, stage_reached


def test_login_prompt_followed_by_probe_output_on_the_same_line():
    console = "Debian GNU/Linux 12 xenguest-a ttyS0\n\nxenguest-a login: GUESTFIX-PROBE begin\n"
    assert LOGIN_RE.search(console)


def test_no_false_login():
    assert not LOGIN_RE.search(
        "[  OK  ] Started systemd-logind.service - User Login Management.\n"
    )


def test_probe_lines_survive_interleaved_kernel_output():
    console = (
        "GUESTFIX-PROBE begin\n[   12.3] random: crng init done\n"
        "GUESTFIX-PROBE mount / /dev/vda2 ext4\n"
        "xx GUESTFIX-PROBE swap /dev/vdb1\nGUESTFIX-PROBE nic lo 00:00:00:00:00:00 unknown\n"
        "GUESTFIX-PROBE nic enX0 52:54:00:00:00:01 up\nGUESTFIX-PROBE failed foo.service\n"
        "GUESTFIX-PROBE end\n"
    )
    p = parse_probe(console)
    assert p["complete"] and p["mounts"] == [
        {"target": "/", "source": "/dev/vda2", "fstype": "ext4"}
    ]
    assert p["swap"] == ["/dev/vdb1"] and p["failed"] == ["foo.service"]
    assert [n["name"] for n in p["nics"]] == ["enX0"]


def test_stages():
    fw_booting = "Booting from Hard Disk...\nBooting from 0000:7c00\n"
    assert stage_reached("", fw_booting, False, False, boot_code=False) == "no boot code"
    assert stage_reached("", fw_booting, False, False, boot_code=True) == "boot loader"
    assert stage_reached("", "Boot failed: not a bootable disk\n", False, False) == "no boot code"
    assert stage_reached("[    0.0] Linux version 6.1.0\n", fw_booting, False, False) == "kernel"
    assert (
        stage_reached(
            "Begin: Loading essential drivers\nGave up waiting for root file system device",
            fw_booting,
            False,
            False,
        )
        == "root mount"
    )
    assert (
        stage_reached("Welcome to Debian GNU/Linux 12 (bookworm)!\n", fw_booting, False, False)
        == "userspace"
    )
    assert stage_reached("", fw_booting, True, True) == "login"


def test_a_report_cut_short_by_a_getty_hangup_is_replaced_by_the_next_whole_one():
    # agetty's vhangup cuts the first copy; the probe writes the report again
    console = (
        "GUESTFIX-PROBE begin\nGUESTFIX-PROBE state running\n"
        "Debian GNU/Linux 12 xenguest-xk ttyS0\n\nxenguest-xk login: "
        "GUESTFIX-PROBE begin\nGUESTFIX-PROBE state running\n"
        "GUESTFIX-PROBE mount / /dev/vda2 ext4\nGUESTFIX-PROBE end\n"
        "GUESTFIX-PROBE begin\nGUESTFIX-PROBE state runn"
    )
    p = parse_probe(console)
    assert p["complete"] and p["state"] == "running"
    assert p["mounts"] == [{"target": "/", "source": "/dev/vda2", "fstype": "ext4"}]
    cut = parse_probe("GUESTFIX-PROBE begin\nGUESTFIX-PROBE state running\nlogin: ")
    assert not cut["complete"] and cut["state"] == "running"
