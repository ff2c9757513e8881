# Cross-compiles for 64-bit Arm Linux (glibc) with Debian's cross toolchain
# (gcc-aarch64-linux-gnu, g++-aarch64-linux-gnu, libc6-dev-arm64-cross), and
# runs the test programs under user-mode emulation (qemu-user) with the cross
# sysroot. Usage:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(GLOOP_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${GLOOP_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${GLOOP_TRIPLE}-g++)
set(CMAKE_ASM_COMPILER ${GLOOP_TRIPLE}-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/${GLOOP_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
find_program(GLOOP_QEMU_AARCH64 qemu-aarch64)
if(GLOOP_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${GLOOP_QEMU_AARCH64} -L /usr/${GLOOP_TRIPLE})
endif()
