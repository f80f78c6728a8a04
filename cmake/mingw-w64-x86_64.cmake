# mingw-w64-x86_64.cmake — cross-build ward for 64-bit Windows with
# mingw-w64 (Debian package gcc-mingw-w64-x86-64), and run what it builds
# under Wine (Debian package wine64):
#
#   cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake
#
# or `make check-windows`. WIN32 is set, so CMakeLists.txt selects the
# `win` backend (src/win/). ctest runs each test through
# CMAKE_CROSSCOMPILING_EMULATOR: Wine, quiet, with the build's own
# directories on its DLL path (libward.dll, next to the libraries).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(WARD_MINGW_PREFIX x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${WARD_MINGW_PREFIX}-gcc)
set(CMAKE_RC_COMPILER ${WARD_MINGW_PREFIX}-windres)

set(CMAKE_FIND_ROOT_PATH /usr/${WARD_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Programs carry their C runtime pieces (libgcc, winpthread) inside, so a
# test runs under Wine without hunting for mingw's DLLs.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static")

find_program(WARD_WINE NAMES wine wine64)
if(WARD_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${WARD_WINE})
endif()
