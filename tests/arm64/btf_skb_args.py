#!/usr/bin/env python3
"""Checks which argument (1-based) of each named kernel function is the `struct sk_buff *`, from the BTF inside an
arm64 kernel Image (Debian's arm64 vmlinuz is an uncompressed Image with .BTF in it) or a raw BTF file.

Usage: btf_skb_args.py IMAGE_OR_BTF FUNC=POS...
Exits 1 (and says which) if a function is missing or its skb is at another position.
The VM scenario skb_args asserts events at these functions, so this tells a kernel change from a tracer bug.
"""
import struct
import sys

BTF_MAGIC = b"\x9f\xeb\x01\x00\x18\x00\x00\x00"  # magic, version 1, flags 0, hdr_len 24 (little-endian)
PTR, STRUCT, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, TYPE_TAG = 2, 4, 8, 9, 10, 11, 12, 13, 18
# Bytes that follow the 12-byte common header, per kind: fixed part and per-vlen-member part.
EXTRA = {1: (4, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 13: (0, 8), 14: (4, 0), 15: (0, 12),
         17: (4, 0), 19: (0, 12)}


def find_btf(data):
    at = 0
    while True:
        at = data.find(BTF_MAGIC, at)
        if at < 0:
            sys.exit("btf_skb_args: no BTF found")
        _, _, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<HBBIIIII", data, at)
        # The vmlinux BTF is megabytes, with the strings right after the types.
        if type_len > 100_000 and str_off == type_off + type_len and at + hdr_len + str_off + str_len <= len(data):
            return data[at + hdr_len + type_off: at + hdr_len + type_off + type_len], \
                data[at + hdr_len + str_off: at + hdr_len + str_off + str_len]
        at += 1


def parse(types_raw, strings):
    def name(off):
        return strings[off:strings.index(b"\0", off)].decode()
    types = [None]  # id 0 is void
    at = 0
    while at < len(types_raw):
        name_off, info, size_type = struct.unpack_from("<III", types_raw, at)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        at += 12
        params = []
        if kind == FUNC_PROTO:
            params = [struct.unpack_from("<II", types_raw, at + 8 * i)[1] for i in range(vlen)]
        fixed, per = EXTRA.get(kind, (0, 0))
        at += fixed + per * vlen
        types.append((kind, name(name_off), size_type, params))
    return types


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    types = parse(*find_btf(open(sys.argv[1], "rb").read()))
    skb = {i for i, t in enumerate(types) if t and t[0] == STRUCT and t[1] == "sk_buff"}

    def strip(i):
        while types[i] and types[i][0] in (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG):
            i = types[i][2]
        return i

    def is_skb_ptr(i):
        i = strip(i)
        return bool(types[i]) and types[i][0] == PTR and strip(types[i][2]) in skb

    funcs = {t[1]: t[2] for t in types if t and t[0] == FUNC}
    bad = 0
    for spec in sys.argv[2:]:
        fname, want = spec.split("=")
        if fname not in funcs:
            print(f"btf_skb_args: {fname}: not in BTF")
            bad += 1
            continue
        params = types[funcs[fname]][3]
        got = next((n + 1 for n, p in enumerate(params) if is_skb_ptr(p)), None)
        ok = got == int(want)
        bad += not ok
        print(f"btf_skb_args: {fname}: skb is argument {got}{'' if ok else f', expected {want}'}")
    sys.exit(1 if bad else 0)


main()
