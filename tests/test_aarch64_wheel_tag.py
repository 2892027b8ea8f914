"""toolchains/wheel_glibc_tag.py reads the tag a wheel can honestly carry off its binaries.

Small aarch64 shared objects are cross-compiled here with Debian's g++-aarch64-linux-gnu (skipped when
it is absent: ``bash tools/setup.sh --dev`` installs it) and packed into throwaway wheels.
"""
import base64
import hashlib
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "toolchains"))
import wheel_glibc_tag as wgt  # noqa: E402

CC = shutil.which("aarch64-linux-gnu-gcc")
CXX = shutil.which("aarch64-linux-gnu-g++")
needs_cross = pytest.mark.skipif(CC is None or CXX is None,
                                 reason="aarch64 cross compiler absent (apt-get install g++-aarch64-linux-gnu)")


def _so(tmp_path, name, source, compiler, *flags):
    src = tmp_path / (name + (".cpp" if compiler == CXX else ".c"))
    src.write_text(source)
    out = tmp_path / f"{name}.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(out), str(src), *flags], check=True)
    return out.read_bytes()


def _wheel(tmp_path, so_bytes, plat="linux_aarch64"):
    name = f"demo-1.0-cp311-cp311-{plat}.whl"
    di = "demo-1.0.dist-info"
    files = {"demo/_x.cpython-311-aarch64-linux-gnu.so": so_bytes, "demo/__init__.py": b"",
             f"{di}/WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-{plat}\n".encode()}
    record = "".join(f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b'=').decode()},{len(b)}\n"
                     for n, b in files.items()) + f"{di}/RECORD,,\n"
    with zipfile.ZipFile(tmp_path / name, "w") as zf:
        for n, b in files.items():
            zf.writestr(n, b)
        zf.writestr(f"{di}/RECORD", record)
    return tmp_path / name


@needs_cross
def test_dlopen_needs_glibc_2_34(tmp_path):
    # glibc 2.34 moved dlopen into libc.so.6 with a new symbol version: the fact behind Debian 12's floor.
    so = _so(tmp_path, "dl", "#include <dlfcn.h>\nvoid *f(const char *p) { return dlopen(p, RTLD_NOW); }\n", CC)
    res = wgt.analyse(_wheel(tmp_path, so))
    assert res["arch"] == "aarch64"
    assert res["glibc"] == (2, 34)
    assert res["tag"] == "manylinux_2_34_aarch64"


@needs_cross
def test_plain_c_gets_the_aarch64_floor(tmp_path):
    so = _so(tmp_path, "plain", "int f(int x) { return x + 1; }\n", CC)
    assert wgt.analyse(_wheel(tmp_path, so))["tag"] == "manylinux_2_17_aarch64"


@needs_cross
def test_dynamic_libstdcxx_is_not_manylinux(tmp_path):
    so = _so(tmp_path, "cxx", "#include <string>\nstd::string f(const char *s) { return std::string(s) + \"!\"; }\n", CXX)
    res = wgt.analyse(_wheel(tmp_path, so))
    assert res["tag"] == "linux_aarch64"
    assert any("libstdc++.so.6" in r for r in res["reasons"])


@needs_cross
def test_static_libstdcxx_is_judged_by_glibc_alone(tmp_path):
    so = _so(tmp_path, "cxxs", "#include <string>\nstd::string f(const char *s) { return std::string(s) + \"!\"; }\n",
             CXX, "-static-libstdc++", "-static-libgcc")
    res = wgt.analyse(_wheel(tmp_path, so))
    assert not res["reasons"], res["reasons"]
    assert res["tag"] == "manylinux_{}_{}_aarch64".format(*max(res["glibc"], (2, 17)))


@needs_cross
def test_retag_rewrites_name_wheel_and_record(tmp_path):
    so = _so(tmp_path, "dl", "#include <dlfcn.h>\nvoid *f(const char *p) { return dlopen(p, RTLD_NOW); }\n", CC)
    out = wgt.retag(_wheel(tmp_path, so), "manylinux_2_34_aarch64", tmp_path / "dist")
    assert out.name == "demo-1.0-cp311-cp311-manylinux_2_34_aarch64.whl"
    with zipfile.ZipFile(out) as zf:
        meta = zf.read("demo-1.0.dist-info/WHEEL").decode()
        assert "Tag: cp311-cp311-manylinux_2_34_aarch64\n" in meta and "linux_aarch64\n" not in meta.replace("manylinux_2_34_aarch64", "")
        for line in zf.read("demo-1.0.dist-info/RECORD").decode().splitlines():
            name, digest, size = line.split(",")
            if digest:
                data = zf.read(name)
                assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode(), name
                assert int(size) == len(data)


def test_rejects_non_elf(tmp_path):
    with pytest.raises(ValueError):
        wgt.elf_needs(b"not an elf at all, just bytes" * 4)
