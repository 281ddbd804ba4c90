#!/usr/bin/env python3
"""Cut a kernel's BTF down to a small, self-contained blob that still has what pwru looks for: functions taking
`struct sk_buff *`, `btf_trace_*` typedefs of skb tracepoints, the drop-reason enums, and everything they refer to
(struct bodies emptied, so the closure stays small). Seeds for fuzz/src/bin/btf.rs.

usage: btf_subset.py KERNEL_IMAGE_OR_BTF OUT [MAX_FUNCS]
KERNEL_IMAGE_OR_BTF: a raw BTF blob, or any file holding one (an uncompressed arm64 Image, a vmlinux ELF).
"""
import struct
import sys

TAIL = {1: 4, 3: 12, 14: 4, 17: 4}
PER_MEMBER = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}


def find_btf(data):
    """Offset and length of the BTF blob in `data` (the first header whose sections fit)."""
    at = 0
    while True:
        at = data.find(b"\x9f\xeb\x01\x00", at)
        if at < 0:
            sys.exit("no BTF found")
        hdr_len, toff, tlen, soff, slen = struct.unpack_from("<5I", data, at + 4)
        if hdr_len == 24 and toff == 0 and soff == tlen and at + 24 + soff + slen <= len(data):
            return at, 24 + soff + slen
        at += 1


def parse(blob):
    _, _, _, _, _, tlen, soff, slen = struct.unpack_from("<HBBIIIII", blob, 0)
    types = [None]  # id 0 is void
    pos, end = 24, 24 + tlen
    while pos < end:
        name, info, st = struct.unpack_from("<III", blob, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        n = 12 + TAIL.get(kind, 0) + PER_MEMBER.get(kind, 0) * vlen
        types.append(bytearray(blob[pos : pos + n]))
        pos += n
    strs = blob[24 + soff : 24 + soff + slen]
    return types, strs


def kind(t):
    return (struct.unpack_from("<I", t, 4)[0] >> 24) & 0x1F


def vlen(t):
    return struct.unpack_from("<I", t, 4)[0] & 0xFFFF


def name(t, strs):
    off = struct.unpack_from("<I", t, 0)[0]
    return strs[off : strs.index(b"\0", off)].decode()


def refs(t):
    """(byte offset, id) of every type id `t` refers to."""
    k, out = kind(t), []
    if k in (2, 8, 9, 10, 11, 12, 13, 14, 17, 18):
        out.append((8, struct.unpack_from("<I", t, 8)[0]))
    if k == 3:
        out += [(12, struct.unpack_from("<I", t, 12)[0]), (16, struct.unpack_from("<I", t, 16)[0])]
    if k == 13:
        out += [(12 + 8 * i + 4, struct.unpack_from("<I", t, 12 + 8 * i + 4)[0]) for i in range(vlen(t))]
    if k == 15:
        out += [(12 + 12 * i, struct.unpack_from("<I", t, 12 + 12 * i)[0]) for i in range(vlen(t))]
    return out


def name_offsets(t):
    k, out = kind(t), [0]
    if k == 6:
        out += [12 + 8 * i for i in range(vlen(t))]
    if k == 19:
        out += [12 + 12 * i for i in range(vlen(t))]
    if k == 13:
        out += [12 + 8 * i for i in range(vlen(t))]
    return out


def main():
    src, out = sys.argv[1], sys.argv[2]
    max_funcs = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    data = open(src, "rb").read()
    at, n = find_btf(data)
    types, strs = parse(data[at : at + n])

    def strip(i):
        while types[i] is not None and kind(types[i]) in (8, 9, 10, 11, 18):
            i = struct.unpack_from("<I", types[i], 8)[0]
        return i

    def is_skb_ptr(i):
        i = strip(i)
        if types[i] is None or kind(types[i]) != 2:
            return False
        j = strip(struct.unpack_from("<I", types[i], 8)[0])
        return types[j] is not None and kind(types[j]) == 4 and name(types[j], strs) == "sk_buff"

    roots, funcs = [], 0
    for i, t in enumerate(types):
        if t is None:
            continue
        k, nm = kind(t), name(t, strs)
        if k == 12 and funcs < max_funcs:
            proto = types[struct.unpack_from("<I", t, 8)[0]]
            if proto is not None and any(is_skb_ptr(r) for _, r in refs(proto)[1:]):
                roots.append(i)
                funcs += 1
        elif k == 8 and nm.startswith("btf_trace_") and any(s in nm for s in ("skb", "net_dev", "netif")):
            roots.append(i)
        elif k in (6, 19) and nm.startswith("skb_drop_reason"):
            roots.append(i)
    keep, todo = set(), list(roots)
    while todo:
        i = todo.pop()
        if i == 0 or i in keep or i >= len(types):
            continue
        keep.add(i)
        if kind(types[i]) not in (4, 5):
            todo += [r for _, r in refs(types[i])]
    new_id = {0: 0}
    for i in sorted(keep):
        new_id[i] = len(new_id)
    new_strs, str_at = bytearray(b"\0"), {0: 0}
    body = bytearray()
    for i in sorted(keep):
        t = bytearray(types[i])
        if kind(t) in (4, 5):  # emptied: name and size only
            info = struct.unpack_from("<I", t, 4)[0] & ~0xFFFF
            t = t[:12]
            struct.pack_into("<I", t, 4, info)
        for off, r in refs(t):
            struct.pack_into("<I", t, off, new_id.get(r, 0))
        for off in name_offsets(t):
            o = struct.unpack_from("<I", t, off)[0]
            if o not in str_at:
                str_at[o] = len(new_strs)
                new_strs += strs[o : strs.index(b"\0", o) + 1]
            struct.pack_into("<I", t, off, str_at[o])
        body += t
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(new_strs))
    open(out, "wb").write(hdr + body + new_strs)
    print(f"{out}: {len(keep)} types ({funcs} skb functions), {len(hdr) + len(body) + len(new_strs)} bytes")


main()
