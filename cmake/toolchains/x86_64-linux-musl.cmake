# Builds with musl instead of glibc through Debian's musl-gcc wrapper
# (musl-tools). musl declares the ucontext functions but does not implement
# them, so the assembly backend is the only one; asking for ucontext fails at
# configure time. C only: there is no musl C++ library here, so the Qt shim,
# the C++ wrapper tests and the benchmark peers are not built. Usage:
#   cmake -S . -B build-musl -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/x86_64-linux-musl.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER musl-gcc)
set(CMAKE_ASM_COMPILER musl-gcc)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# No C++: the test directories that need it skip themselves.
set(CMAKE_CXX_COMPILER CMAKE_CXX_COMPILER-NOTFOUND)
