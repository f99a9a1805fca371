#!/usr/bin/env python3
"""User-space 802.1Q trunk port.

The test kernel has no 8021q module (CONFIG_VLAN_8021Q is not set), so a VLAN
sub-interface cannot be created.  This process does the tagging instead: it
bridges a TAP device (the untagged, IP-carrying side) and a veth (the trunk):
frames read from the TAP leave on the trunk with an 802.1Q tag (VID --vid);
frames arriving on the trunk have their tag removed and are written to the TAP.
A capture on the trunk veth shows real tagged frames of real traffic.
"""
import argparse
import fcntl
import os
import selectors
import socket
import struct

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_ALL = 0x0003
ETH_P_8021Q = 0x8100
PACKET_OUTGOING = 4
PACKET_IGNORE_OUTGOING = 23
SOL_PACKET = 263


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tap", required=True)
    ap.add_argument("--trunk", required=True)
    ap.add_argument("--vid", type=int, default=100)
    ap.add_argument("--pcp", type=int, default=0)
    args = ap.parse_args()

    tap = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tap, TUNSETIFF, struct.pack("16sH", args.tap.encode(), IFF_TAP | IFF_NO_PI))
    trunk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        trunk.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass
    trunk.bind((args.trunk, 0))
    tag = struct.pack("!HH", ETH_P_8021Q, (args.pcp << 13) | args.vid)
    print("trunk ready", args.tap, "<->", args.trunk, "vid", args.vid, flush=True)

    sel = selectors.DefaultSelector()
    sel.register(tap, selectors.EVENT_READ, "tap")
    sel.register(trunk, selectors.EVENT_READ, "trunk")
    while True:
        for key, _ in sel.select():
            if key.data == "tap":
                frame = os.read(tap, 65536)
                try:
                    trunk.send(frame[:12] + tag + frame[12:])
                except OSError:      # trunk not up yet: drop, like a switch port would
                    pass
            else:
                frame, addr = trunk.recvfrom(65536)
                if addr[2] == PACKET_OUTGOING:
                    continue
                # the kernel normally moves the tag to metadata on receive; strip it if not
                if len(frame) > 16 and struct.unpack("!H", frame[12:14])[0] == ETH_P_8021Q:
                    frame = frame[:12] + frame[16:]
                try:
                    os.write(tap, frame)
                except OSError:      # EIO while the tap interface is still down
                    pass


if __name__ == "__main__":
    main()
