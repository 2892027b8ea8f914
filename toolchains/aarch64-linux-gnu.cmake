# Cross-compiling for 64-bit Arm Linux (Raspberry Pi 5 / Pi 4 running a 64-bit OS) with Debian's
# g++-aarch64-linux-gnu. Compilers and find-root modes only: no flags here, so the build is the
# same as a native aarch64 one (NEON is baseline; no -mcpu, the wheel must run on every Armv8-A).
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Target libraries and headers come from the cross sysroot only; programs (python, git) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Header-only CMake packages (pybind11) live in the host's Python environment: search both.
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
