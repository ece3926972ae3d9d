# Cross-compiling for 64-bit Arm Linux on an x86-64 Debian 12 machine (scripts/test.sh's Arm
# stage): Debian's g++-aarch64-linux-gnu, the arm64 libraries of Debian's multiarch packages
# (libhwy-dev:arm64, libgtest-dev:arm64 under /usr/lib/aarch64-linux-gnu; the headers are
# shared with the amd64 packages), and qemu-user to run what was built: tests are listed by
# gtest_discover_tests and run by ctest through CMAKE_CROSSCOMPILING_EMULATOR. `-cpu max`
# emulates a CPU with every extension qemu knows (dot products, i8mm, SVE, SVE2), so the
# kernels chosen at run time from HWCAP are the fastest ones. The programs run on Debian's
# arm64 runtime (multiarch libc6:arm64, which owns the loader /lib/ld-linux-aarch64.so.1,
# with libstdc++6:arm64 and libhwy1:arm64 next to it), not with `-L /usr/aarch64-linux-gnu`:
# that prefix gives the cross toolchain's loader (glibc 2.36-8cross1), which then loads
# /lib/aarch64-linux-gnu/libc.so.6 of libc6:arm64 (2.36-9+deb12u*): a loader and a libc of
# two different glibc builds that disagree on the layout of the loader's private data:
# pthread_create looped forever over the thread stack cache kept there (every test that
# starts a thread never finished under qemu).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Both are cache entries, so scripts/check-deps.sh sees that they come from qemu-user and
# libc6:arm64; a machine without them gets one clear error here, not hung or failed tests.
find_program(GEMMA_QEMU_AARCH64 qemu-aarch64 NO_CMAKE_FIND_ROOT_PATH)
set(GEMMA_AARCH64_LOADER /lib/ld-linux-aarch64.so.1 CACHE FILEPATH
    "The arm64 dynamic loader the tests run with (Debian's libc6:arm64)")
if(NOT GEMMA_QEMU_AARCH64 OR NOT EXISTS "${GEMMA_AARCH64_LOADER}")
  message(FATAL_ERROR "aarch64 cross build: the tests need qemu-aarch64 (Debian's qemu-user) and "
                      "${GEMMA_AARCH64_LOADER} (libc6:arm64): run scripts/install-deps.sh")
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR "${GEMMA_QEMU_AARCH64};-cpu;max")
# pkg-config (Highway) reads the arm64 .pc files, never the build machine's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
