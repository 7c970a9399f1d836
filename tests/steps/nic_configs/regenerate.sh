#!/bin/sh
# Rewrites the tool-written network configurations under tests/steps/nic_configs
# (read by tests/steps/test_nic_config_kinds.py) with the real tools on a
# Debian 12 host: nmcli (network-manager), netplan (netplan.io) and the
# xen-tools hooks that write a new guest's network files. Each case directory
# is a guest root; each file gets a header comment naming the tool, its
# version and the command, followed by the tool's output unchanged.
#
# The files no tool here writes (ifcfg as anaconda and YaST write them,
# systemd-networkd .network files, ifupdown as debian-installer writes it) are
# committed by hand and left alone by this script; their headers say so.
#
#   apt-get install network-manager netplan.io xen-tools   (by hand: the tests
#   only read the committed files, and make setup does not install a
#   NetworkManager on the test host)
#   sh tests/steps/nic_configs/regenerate.sh
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
# The domains' MACs the tests use (tests/domain/golden/guide-sles11sp3.in.xml,
# two-disks-two-nics.in.xml): what cloud-init copies into netplan's match:.
MAC1=00:16:3e:2d:91:c3
MAC2A=00:16:3e:aa:00:01
MAC2B=00:16:3e:aa:00:02
NM_VERSION=$(dpkg-query -W -f='${Version}' network-manager)
NETPLAN_VERSION=$(dpkg-query -W -f='${Version}' netplan.io)
XENTOOLS_VERSION=$(dpkg-query -W -f='${Version}' xen-tools)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# header FILE: FILE's header comment, one "# " line per line of stdin
header() {
    mkdir -p "$(dirname "$1")"
    sed 's/^/# /' >"$1"
    echo '# (Test fixture; everything below this header is the tool output, unchanged.)' >>"$1"
}

# quoted ARGS...: the arguments as one shell-quoted command line
quoted() {
    line=
    for a in "$@"; do
        case $a in
        *[!A-Za-z0-9_.:=/-]*) a="'$a'" ;;
        esac
        line="${line:+$line }$a"
    done
    printf '%s' "$line"
}

# nm CASE FILE ARGS...: a keyfile as `nmcli --offline connection add` prints it
nm() {
    case=$1 file=$2
    shift 2
    out="$HERE/$case/etc/NetworkManager/system-connections/$file"
    {
        echo "Written by nmcli $NM_VERSION (network-manager, Debian 12):"
        echo "  $(quoted nmcli --offline connection add "$@")"
    } | header "$out"
    nmcli --offline connection add "$@" >>"$out"
}

# netplan_set CASE ORIGIN SETTING...: the YAML file `netplan set` writes
netplan_set() {
    case=$1 origin=$2
    shift 2
    rm -rf "$TMP/np" && mkdir -p "$TMP/np/etc/netplan"
    for setting in "$@"; do
        netplan set --root-dir "$TMP/np" --origin-hint "$origin" "$setting"
    done
    out="$HERE/$case/etc/netplan/$origin.yaml"
    {
        echo "Written by netplan.io $NETPLAN_VERSION (Debian 12), its libnetplan YAML writer:"
        for setting in "$@"; do
            echo "  $(quoted netplan set --origin-hint "$origin" "$setting")"
        done
    } | header "$out"
    cat "$TMP/np/etc/netplan/$origin.yaml" >>"$out"
}

# -- NetworkManager keyfiles ----------------------------------------------------
for n in eth0 enX0 ens3; do
    nm "nm-$n" "Wired $n.nmconnection" type ethernet ifname "$n" con-name "Wired $n" \
        ipv4.method auto
done
nm nm-by-mac "Wired by MAC.nmconnection" type ethernet con-name "Wired by MAC" \
    ethernet.mac-address "$MAC1" ipv4.method auto
for n in eth0 eth1; do
    nm nm-two "Wired $n.nmconnection" type ethernet ifname "$n" con-name "Wired $n" \
        ipv4.method auto
done

# -- netplan --------------------------------------------------------------------
# as the Ubuntu installer (subiquity) writes it: the NIC by name, DHCP
for n in eth0 enX0 ens3; do
    netplan_set "netplan-$n" 00-installer-config "network.ethernets.$n.dhcp4=true"
done
# as cloud-init writes it: matched by MAC, named with set-name
for n in eth0 enX0 ens3; do
    netplan_set "netplan-cloud-init-$n" 50-cloud-init \
        "network.ethernets.$n={match: {macaddress: \"$MAC1\"}, set-name: $n, dhcp4: true}"
done
netplan_set netplan-cloud-init-two 50-cloud-init \
    "network.ethernets.eth0={match: {macaddress: \"$MAC2A\"}, set-name: eth0, dhcp4: true}" \
    "network.ethernets.eth1={match: {macaddress: \"$MAC2B\"}, set-name: eth1, dhcp4: true}"
# every en* NIC by a wildcard: no name to keep
netplan_set netplan-wildcard 01-netcfg \
    'network.ethernets.all-en={match: {name: "en*"}, dhcp4: true}'
# bound by MAC alone, no set-name: whatever the NIC is called
netplan_set netplan-by-mac 01-netcfg \
    "network.ethernets.lan={match: {macaddress: \"$MAC1\"}, dhcp4: true}"

# -- xen-tools' hooks (what xen-create-image writes into a new guest) -----------
rm -rf "$TMP/xt"
dhcp=1 sh /usr/share/xen-tools/debian.d/40-setup-networking "$TMP/xt"
out="$HERE/ifupdown-eth0/etc/network/interfaces"
printf '%s\n' "Written by xen-tools $XENTOOLS_VERSION (Debian 12), as xen-create-image --dhcp does:" \
    "  dhcp=1 /usr/share/xen-tools/debian.d/40-setup-networking PREFIX" | header "$out"
cat "$TMP/xt/etc/network/interfaces" >>"$out"

static="ip1=192.0.2.10 ip2=192.0.2.11 ip_count=2 netmask=255.255.255.0 gateway=192.0.2.1 nameserver=192.0.2.53"
rm -rf "$TMP/xt"
env $static sh /usr/share/xen-tools/debian.d/40-setup-networking "$TMP/xt"
out="$HERE/ifupdown-eth0-alias/etc/network/interfaces"
printf '%s\n' "Written by xen-tools $XENTOOLS_VERSION (Debian 12), as xen-create-image --ip twice does:" \
    "  $static /usr/share/xen-tools/debian.d/40-setup-networking PREFIX" | header "$out"
cat "$TMP/xt/etc/network/interfaces" >>"$out"

rm -rf "$TMP/xt"
env $static sh /usr/share/xen-tools/centos-6.d/40-setup-networking "$TMP/xt"
for f in ifcfg-eth0 ifcfg-eth0:1; do
    out="$HERE/rhel-eth0-alias/etc/sysconfig/network-scripts/$f"
    printf '%s\n' "Written by xen-tools $XENTOOLS_VERSION (Debian 12) for a CentOS guest, as xen-create-image --ip twice does:" \
        "  $static /usr/share/xen-tools/centos-6.d/40-setup-networking PREFIX" | header "$out"
    cat "$TMP/xt/etc/sysconfig/network-scripts/$f" >>"$out"
done
