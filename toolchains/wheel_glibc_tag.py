#!/usr/bin/env python3
"""Derive a wheel's honest Linux platform tag from what its shared objects ask of the system.

    python toolchains/wheel_glibc_tag.py show  WHEEL            # print each .so's needs and the tag
    python toolchains/wheel_glibc_tag.py retag WHEEL -o DIR     # write DIR/<name with that tag>.whl

PEP 600: ``manylinux_X_Y_<arch>`` promises that the wheel runs on any distribution with glibc >= X.Y.
The promise is read from the binaries, not from the build machine: the highest ``GLIBC_X.Y`` symbol
version any ``.so`` references (``objdump -T`` shows the same), floored at 2.17, the oldest manylinux
for aarch64. It only holds when every library the objects link against is part of glibc itself (or
libgcc_s, whose symbol versions are far older than any glibc here); a wheel that needs the build
machine's libstdc++ (GLIBCXX_3.4.30 from GCC 12, say) would also need a libstdc++ that glibc's
version says nothing about, so such a wheel gets the plain ``linux_<arch>`` tag instead, with the
reason printed. The build links libstdc++ statically for that reason.

Standard library only, so it runs on the build host and inside the emulated target alike.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import re
import struct
import sys
import zipfile
from pathlib import Path

EM_NAMES = {0x3E: "x86_64", 0xB7: "aarch64"}
SHT_DYNAMIC, SHT_GNU_VERNEED = 6, 0x6FFFFFFE
DT_NEEDED = 1
# Libraries that ship with glibc (aarch64 and x86_64 sonames) plus libgcc_s: their presence on a
# system is implied by its glibc version.
GLIBC_LIBS = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libutil.so.1",
              "libresolv.so.2", "ld-linux-aarch64.so.1", "ld-linux-x86-64.so.2", "libgcc_s.so.1"}
MANYLINUX_FLOOR = {"aarch64": (2, 17), "x86_64": (2, 5)}


def elf_needs(blob: bytes) -> dict:
    """Machine, DT_NEEDED sonames and the version names required from each (.gnu.version_r)."""
    if blob[:4] != b"\x7fELF" or blob[4] != 2 or blob[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF object")
    machine = struct.unpack_from("<H", blob, 0x12)[0]
    shoff, = struct.unpack_from("<Q", blob, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", blob, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", blob, shoff + i * shentsize) for i in range(shnum)]

    def cstr(strtab_index: int, off: int) -> str:
        base = sections[strtab_index][4] + off
        return blob[base:blob.index(b"\0", base)].decode()

    needed, versions = [], {}
    for _name, sh_type, _flags, _addr, offset, size, link, info, _align, entsize in sections:
        if sh_type == SHT_DYNAMIC:
            for i in range(size // entsize):
                tag, val = struct.unpack_from("<qQ", blob, offset + i * entsize)
                if tag == DT_NEEDED:
                    needed.append(cstr(link, val))
        elif sh_type == SHT_GNU_VERNEED:
            pos = offset
            for _ in range(info):  # sh_info = number of Verneed entries
                _ver, cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", blob, pos)
                names, aux = [], pos + vn_aux
                for _ in range(cnt):
                    _hash, _flags2, _other, vna_name, vna_next = struct.unpack_from("<IHHII", blob, aux)
                    names.append(cstr(link, vna_name))
                    aux += vna_next
                versions[cstr(link, vn_file)] = sorted(names)
                if not vn_next:
                    break
                pos += vn_next
    return {"machine": EM_NAMES.get(machine, hex(machine)), "needed": needed, "versions": versions}


def _vtuple(name: str, prefix: str):
    m = re.fullmatch(re.escape(prefix) + r"(\d+(?:\.\d+)*)", name)
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def analyse(wheel: Path) -> dict:
    """Per-object needs and the tag they justify."""
    objects, arch_seen, glibc, reasons = {}, set(), (0, 0), []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not re.search(r"\.so(\.\d+)*$", name):
                continue
            info = elf_needs(zf.read(name))
            objects[name] = info
            arch_seen.add(info["machine"])
            for lib, vers in info["versions"].items():
                for v in vers:
                    t = _vtuple(v, "GLIBC_")
                    if t:
                        glibc = max(glibc, t)
            for lib in info["needed"]:
                if lib not in GLIBC_LIBS:
                    reasons.append(f"{name} needs {lib} "
                                   f"({', '.join(info['versions'].get(lib, [])) or 'unversioned'}), "
                                   "which a glibc version does not imply")
    if len(arch_seen) != 1:
        raise SystemExit(f"{wheel.name}: expected shared objects of one architecture, found {sorted(arch_seen) or 'none'}")
    arch = arch_seen.pop()
    floor = MANYLINUX_FLOOR.get(arch, (2, 17))
    need = max(glibc, floor)
    tag = f"linux_{arch}" if reasons else f"manylinux_{need[0]}_{need[1]}_{arch}"
    return {"arch": arch, "glibc": glibc, "tag": tag, "objects": objects, "reasons": reasons}


def show(res: dict, out=sys.stdout) -> None:
    for name, info in res["objects"].items():
        print(f"{name}: {info['machine']}, NEEDED {', '.join(info['needed']) or '-'}", file=out)
        for lib, vers in sorted(info["versions"].items()):
            glibc = sorted((v for v in vers if v.startswith("GLIBC_")), key=lambda v: _vtuple(v, "GLIBC_"))
            other = [v for v in vers if not v.startswith("GLIBC_")]
            print(f"    {lib}: {' '.join(glibc + other)}", file=out)
    g = res["glibc"]
    print(f"highest GLIBC_ symbol version: {g[0]}.{g[1]}" if g != (0, 0) else "no GLIBC_ symbol versions", file=out)
    for r in res["reasons"]:
        print(f"not manylinux: {r}", file=out)
    print(f"platform tag: {res['tag']}", file=out)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def retag(wheel: Path, tag: str, out_dir: Path) -> Path:
    """Copy WHEEL to out_dir with its platform tag replaced, in the file name, WHEEL and RECORD."""
    parts = wheel.name[:-len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise SystemExit(f"not a wheel file name: {wheel.name}")
    new_name = "-".join(parts[:-1] + [tag]) + ".whl"
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / new_name
    with zipfile.ZipFile(wheel) as src:
        infos = src.infolist()
        dist_info = next(i.filename.split("/")[0] for i in infos if i.filename.endswith(".dist-info/WHEEL"))
        wheel_meta = src.read(f"{dist_info}/WHEEL").decode()
        py_abi = parts[-3:-1]
        new_meta = re.sub(r"(?m)^Tag: .*\n", "", wheel_meta)
        new_meta = new_meta.rstrip("\n") + "\n" + "".join(
            f"Tag: {py}-{abi}-{tag}\n" for py in py_abi[0].split(".") for abi in py_abi[1].split("."))
        record_lines = []
        for line in src.read(f"{dist_info}/RECORD").decode().splitlines():
            if line.split(",")[0] == f"{dist_info}/WHEEL":
                line = f"{dist_info}/WHEEL,{_record_hash(new_meta.encode())},{len(new_meta.encode())}"
            record_lines.append(line)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
            for i in infos:
                if i.filename == f"{dist_info}/WHEEL":
                    data = new_meta.encode()
                elif i.filename == f"{dist_info}/RECORD":
                    data = ("\n".join(record_lines) + "\n").encode()
                else:
                    data = src.read(i.filename)
                zi = zipfile.ZipInfo(i.filename, i.date_time)
                zi.external_attr, zi.compress_type = i.external_attr, zipfile.ZIP_DEFLATED
                dst.writestr(zi, data)
    dest.write_bytes(buf.getvalue())
    return dest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["show", "retag"])
    ap.add_argument("wheel", type=Path)
    ap.add_argument("-o", "--out-dir", type=Path, help="retag: where the retagged wheel goes")
    ap.add_argument("--require-manylinux", action="store_true",
                    help="fail when only the linux_<arch> tag is honest")
    a = ap.parse_args(argv)
    res = analyse(a.wheel)
    show(res)
    if a.require_manylinux and res["reasons"]:
        print("error: the wheel cannot honestly carry a manylinux tag", file=sys.stderr)
        return 1
    if a.command == "retag":
        if a.out_dir is None:
            ap.error("retag needs -o/--out-dir")
        print(retag(a.wheel, res["tag"], a.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
