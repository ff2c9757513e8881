# Builds 32-bit x86 (i386) programs on an x86-64 Debian host with the native
# gcc and -m32, using Debian's lib32gcc-12-dev, lib32stdc++-12-dev and
# libc6-dev-i386 (gcc-multilib would do too, but conflicts with the AArch64
# cross compiler). The programs
# run natively. There is no i386 assembly switch: the ucontext backend is used.
# Usage:
#   cmake -S . -B build-i386 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/i386-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(CMAKE_C_COMPILER gcc)
set(CMAKE_CXX_COMPILER g++)
# Without gcc-multilib, the kernel's asm/ headers are found only in the
# x86-64 multiarch directory; they serve both word sizes.
set(CMAKE_C_FLAGS_INIT "-m32 -idirafter /usr/include/x86_64-linux-gnu")
set(CMAKE_CXX_FLAGS_INIT "-m32 -idirafter /usr/include/x86_64-linux-gnu")
set(CMAKE_ASM_FLAGS_INIT -m32)
set(CMAKE_EXE_LINKER_FLAGS_INIT -m32)
set(CMAKE_SHARED_LINKER_FLAGS_INIT -m32)
set(CMAKE_LIBRARY_ARCHITECTURE i386-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
