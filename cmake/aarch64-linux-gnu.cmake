# Cross-compiling Omega for 64-bit ARM on Debian (tools/cross-arm64.sh sets it up): Debian's
# gcc-aarch64-linux-gnu, the arm64 libraries installed multiarch beside the host's
# (dpkg --add-architecture arm64), and the tests run under qemu-user.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# only the arm64 libraries: the host's x86 ones would link and fail at run time
set(CMAKE_FIND_ROOT_PATH /usr/lib/aarch64-linux-gnu /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
# pkg-config reads the arm64 .pc files (and the folder the script adds for the one Debian's
# multiarch does not ship, oniguruma: see tools/cross-arm64.sh)
set(ENV{PKG_CONFIG_LIBDIR} "$ENV{OMEGA_CROSS_PC_DIR}:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
# ctest runs each test binary under the emulator; the loader and libraries are the multiarch
# ones under / (where qemu-aarch64 looks for them with -L /)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /)
