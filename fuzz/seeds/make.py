#!/usr/bin/env python3
"""Builds the seed corpora (fuzz/seeds/<target>/) from what the tree and the shared test data hold:
filter: libpcap's filter test expressions, each with a packet from the captures; capture: small captures, also as
pcapng in both byte orders; btf: cut-down Debian kernel BTF (btf_subset.py) and our BPF objects; cilium: the golden
byte images of cilium/src/golden_tests.rs under every decoder.

usage: make.py SHARED_PCAP_FILTER_DIR OUT_DIR [KERNEL_IMAGE...]
The seeds are then minimised into fuzz/corpus/ with `cargo afl cmin` (fuzz/run.sh cmin).
"""
import glob
import json
import os
import re
import struct
import subprocess
import sys

shared, out = sys.argv[1], sys.argv[2]
kernels = sys.argv[3:]
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))


def write(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pcap_packets(path):
    data = open(path, "rb").read()
    be = data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
    e = ">" if be else "<"
    lt = struct.unpack_from(e + "I", data, 20)[0]
    pos, pkts = 24, []
    while pos + 16 <= len(data):
        _, _, cap, orig = struct.unpack_from(e + "IIII", data, pos)
        pkts.append((data[pos + 16 : pos + 16 + cap], orig))
        pos += 16 + cap
    return lt, pkts


def pcapng(lt, pkts, be):
    e = ">" if be else "<"

    def block(ty, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack(e + "II", ty, n) + body + struct.pack(e + "I", n)

    out = block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack(e + "HHI", lt, 0, 65535))
    for data, orig in pkts:
        out += block(6, struct.pack(e + "IIIII", 0, 0, 0, len(data), orig) + data)
    return out


# Captures: the small ones as they are, and as pcapng of both byte orders.
pcaps = sorted(glob.glob(os.path.join(shared, "pcaps", "*.pcap")), key=os.path.getsize)
packets = []
for i, p in enumerate(pcaps):
    lt, pkts = pcap_packets(p)
    packets += [d for d, _ in pkts[:3] if len(d) <= 300]
    if os.path.getsize(p) <= 4096 and i % 4 == 0:
        name = os.path.basename(p)
        write("capture", name, open(p, "rb").read())
        write("capture", name + "ng-le", pcapng(lt, pkts, False))
        write("capture", name + "ng-be", pcapng(lt, pkts, True))

# Filter: every expression of libpcap's suite, each with a packet.
tests = json.load(open(os.path.join(shared, "libpcap-filter-tests.json")))
exprs = []
for case in tests["accept"]:
    exprs += [a for a in case.get("aliases", []) if a]
exprs += [c["expr"] for c in tests["reject"] + tests["apply"]]
exprs = sorted(set(x for x in exprs if x))
for i, x in enumerate(exprs):
    write("filter", "%04d" % i, x.encode() + b"\0" + packets[i * 7 % len(packets)])

# BTF: cut-down kernel BTF, as base (first byte even) and as split BTF over an empty base (first byte odd).
for k in kernels:
    for n in (3, 30):
        tmp = os.path.join(out, "tmp.btf")
        subprocess.run([sys.executable, os.path.join(here, "btf_subset.py"), k, tmp, str(n)], check=True)
        blob = open(tmp, "rb").read()
        os.remove(tmp)
        base = os.path.basename(os.path.dirname(os.path.dirname(k)))
        write("btf", "%s-%d" % (base, n), b"\0" + blob)
# Our BPF objects' BTF, raw and as a small ELF (the .BTF section alone), for the ELF path.
for o in glob.glob(os.path.join(root, "probes", "bpf", "obj", "*.o")):
    tmp = os.path.join(out, "tmp.o")
    subprocess.run(["llvm-objcopy", "--only-section=.BTF", o, tmp], check=True)
    write("btf", os.path.basename(o), b"\0" + open(tmp, "rb").read())
    subprocess.run(["llvm-objcopy", "--dump-section", ".BTF=" + tmp, o, "/dev/null"], check=True)
    write("btf", os.path.basename(o) + ".btf", b"\0" + open(tmp, "rb").read())
    os.remove(tmp)

# Cilium: each golden image as a key (with the image after it as the value), under every decoder and release.
src = open(os.path.join(root, "cilium", "src", "golden_tests.rs")).read()
imgs = [(n, bytes.fromhex(h)) for n, h in re.findall(r'const (\w+): &str =\s*"([0-9a-f]+)"', src)]
for i, (name, key) in enumerate(imgs):
    val = imgs[(i + 1) % len(imgs)][1]
    # Selectors: the 23 global maps by pin name, then by their 15-character kernel names, then a policy map.
    for sel in list(range(46)) + [46]:
        write("cilium", "%s-%d" % (name, sel), bytes([sel, i % 3, len(key), 2 * (i % 6)]) + key + val)
for t in sorted(os.listdir(out)):
    print(t, len(os.listdir(os.path.join(out, t))))
