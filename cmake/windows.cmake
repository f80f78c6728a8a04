# windows.cmake — the tests and examples of the win backend (src/win/),
# cross-built with cmake/mingw-w64-x86_64.cmake and run by ctest under
# Wine (`make check-windows`). Included by CMakeLists.txt for
# WARD_BACKEND=win.
#
# Every tests/test_*.c is in exactly one of the three lists below, and
# each list says why; a test file that is in none fails the configuration,
# so a new test is placed on purpose.

# Built and run under Wine.
set(WARD_WIN_TESTS
  test_backend    # arguments, crash and restart, deadline kill, stop: real processes
  test_calls      # calls, errors, deadlines, cancellation, crashes mid-call, many callers
  test_streams    # rows, cancellation, floods cut off, flow control both ways, memory bounds
  test_groups     # supervision groups: one-for-one, one-for-all, rest-for-one, giving up
  test_nonblocking # stop, cycle, restart and free from callbacks, on ward's and the program's loop
  test_proto      # the codec and the handshake's encoding
  test_conn       # the connection's writers and its close: a GOODBYE queued behind a
                  # writer still goes out before the end
  test_ring       # the ring of frames in shared memory, and its hostile other side
  test_shm        # no shared memory on this backend: every call says so
  test_policy     # the restart policy on a fake clock
  test_lifecycle  # the worker's state machine on a fake clock
  test_supervise  # restarts, crash loops, deadlines, heartbeats, planned replacements,
                  # stop escalation, no orphans (the host killed too), info
  test_pool       # growth and shrinking, a start in the background, 10 000 calls with kills
  test_ops        # captured output, last words, output modes, a full stderr, data directories
  test_defaults   # every default the header states is the one in force
  test_loop       # a host on the program's own loop
  test_abi        # the ABI's structs, callbacks and calls
  test_chaos      # workers killed at random moments under load
  test_hostile    # peers breaking the rules, a raw host's ends of stream and goodbyes,
                  # workers of a killed host
  test_server     # ward_server (threads, and on a host's loop) and ward_client_open over
                  # the named pipe a path stands for: calls, names, squatters, hostile
                  # peers, limits, deferred answers (thread counts unchecked: the
                  # system's thread pool)
  test_classes    # the class table, lazy starts, and each class's priority class (no
                  # I/O priority on Windows)
  test_plain      # plain processes (this binary, not /bin/sh): readiness after a time or
                  # on a handle named in WARD_NOTIFY_HANDLE, stops, restarts, logs
)

# Cannot mean anything on Windows.
set(WARD_WIN_EXCLUDED
  test_spawn          # pidfds, process groups, descriptor numbers, fork
  test_cli            # drives the `ward` tool over Unix sockets
  test_daemon         # the same, for `ward run`
  test_deploy         # `ward run` as PID 1, subreaper, under systemd (Linux)
  test_http           # the HTTP pages of `ward run`, which is not built for Windows
  test_config         # the `ward run` configuration (tool only, inih)
  test_protocol_doc   # runs a Python worker over an inherited Unix socket
  test_json           # the JSON layer, not built on Windows (no jansson)
  test_sandbox        # seccomp, Landlock, namespaces: the linux backend's sandbox
  test_reap           # zombies and subreapers: Windows has neither (the call returns 0)
  test_tree           # cgroups, setsid() escapees, pidfds, SIGSTOP pauses: a job object
                      # holds the tree there (test_supervise's no orphans), no pause
  test_ext            # the extension host: built on the JSON layer, absent here
  test_ext_manifest   # the same: manifests are JSON
  test_ext_cli        # `ward ext`: the tool is not built for Windows
  test_zcopy          # payloads in sealed memfds passed over Unix sockets, and workers
                      # that forge them with sendmsg; the win backend sends every
                      # payload through its pipe (docs/platforms.md)
)

# (Not test_*.c, so in none of these lists: conform_c, conform_python,
# conform_node, node_test and node_install drive `ward conform`, which is
# not built for Windows, and workers that speak Unix sockets; they do not
# run under Wine.)

# Meaningful on Windows, not ported yet (docs/platforms.md, "What runs").
set(WARD_WIN_PENDING
  test_python  # the Python package's workers: they speak named pipes (ward/winpipe.py),
               # but there is no Windows CPython to run them under Wine here
               # (docs/platforms.md)
  test_frames  # frames in shared memory, which this backend has not (WARD_FRAMES_SHM is
               # refused): its checks of that and of WARD_FRAMES use setenv() and its
               # raw peers int descriptors
  test_slog    # log records: its raw workers read their channel with read(), and
               # it captures the host's stderr with pipe() and dup2()
  test_spares  # spares and replacement: it finds and kills spares by pid with
               # kill() and waits for them with kill(pid, 0)
)

file(GLOB ward_win_all CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/test_*.c)
foreach(src IN LISTS ward_win_all)
  get_filename_component(name ${src} NAME_WE)
  if(NOT name IN_LIST WARD_WIN_TESTS AND NOT name IN_LIST WARD_WIN_EXCLUDED
     AND NOT name IN_LIST WARD_WIN_PENDING)
    message(FATAL_ERROR "cmake/windows.cmake: place ${name} in one of its lists")
  endif()
endforeach()

# Tests of the backend from inside, Windows only: tests/win/test_*.c.
file(GLOB ward_win_own CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/win/test_*.c)

if(WARD_BUILD_TESTS)
  enable_testing()
  foreach(src IN LISTS ward_win_own)
    get_filename_component(name ${src} NAME_WE)
    add_executable(win_${name} ${src})
    target_link_libraries(win_${name} PRIVATE ward_static Threads::Threads)
    target_include_directories(win_${name} PRIVATE ${PROJECT_SOURCE_DIR}/src
                               ${PROJECT_SOURCE_DIR}/tests)
    set_target_properties(win_${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
    add_test(NAME win_${name} COMMAND win_${name})
    set_tests_properties(win_${name} PROPERTIES TIMEOUT 180 ENVIRONMENT "WINEDEBUG=-all")
  endforeach()
  foreach(name IN LISTS WARD_WIN_TESTS)
    add_executable(${name} ${PROJECT_SOURCE_DIR}/tests/${name}.c)
    target_link_libraries(${name} PRIVATE ward_static Threads::Threads shell32 psapi)
    target_compile_definitions(${name} PRIVATE WARD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES TIMEOUT 180 ENVIRONMENT "WINEDEBUG=-all")
  endforeach()
  # Wine runs the tests without a console, so the soft stop's CTRL_BREAK
  # reaches no worker: a wedged one is killed after the grace instead of
  # terminated (only the goodbye on its channel reaches it).
  set_tests_properties(test_supervise test_plain PROPERTIES
                       ENVIRONMENT "WINEDEBUG=-all;WARD_TEST_NO_SOFT_STOP=1")
  # test_supervise's 500 cycles take 40 s under Wine on a quiet machine and
  # up to 160 s on a busy one: room for that.
  set_tests_properties(test_supervise PROPERTIES TIMEOUT 400)
endif()

# The benchmarks (bench/): one program per figure for every backend, the
# system's part behind bench/bench_win.h. Those ported are built into
# bench/ and run once, briefly (--quick), by ctest under Wine, so they
# cannot rot; `make bench-windows` runs them for their figures. Every
# bench/*.c is in one of the two lists, as for the tests.
set(WARD_WIN_BENCH
  bench_rtt       # round trip against raw named-pipe ping-pongs (blocking, event, IOCP)
  bench_lifecycle # spawn -> ready against CreateProcessW -> first byte; crash, cancel
  bench_bulk      # 1 and 64 MiB echoes against a raw named pipe
)
set(WARD_WIN_BENCH_NOT_PORTED
  bench_spares     # spares: not measured under Wine yet (the code is the portable core)
  bench_throughput # raw frames batched with read(2) and a socketpair's buffers
  bench_scale      # thousands of workers: RLIMIT_NOFILE, pidfds, inherited descriptors
  bench_config     # times `ward run --check`: the tool is not built for Windows
  bench_peers      # Node and Python children over Unix sockets and pipes
  bench_transport  # a memfd and futexes, and iceoryx: Linux's
)
file(GLOB ward_win_bench_all CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/bench/*.c)
foreach(src IN LISTS ward_win_bench_all)
  get_filename_component(name ${src} NAME_WE)
  if(NOT name IN_LIST WARD_WIN_BENCH AND NOT name IN_LIST WARD_WIN_BENCH_NOT_PORTED)
    message(FATAL_ERROR "cmake/windows.cmake: place ${name} in one of its bench lists")
  endif()
endforeach()
if(WARD_BUILD_BENCH)
  foreach(name IN LISTS WARD_WIN_BENCH)
    add_executable(${name} ${PROJECT_SOURCE_DIR}/bench/${name}.c)
    target_link_libraries(${name} PRIVATE ward_static Threads::Threads)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
    if(WARD_BUILD_TESTS)
      add_test(NAME ${name}_smoke COMMAND ${name} --quick)
      set_tests_properties(${name}_smoke PROPERTIES TIMEOUT 180 ENVIRONMENT "WINEDEBUG=-all")
    endif()
  endforeach()
endif()

# The examples that build on Windows (the others use jansson, msgpack-c or
# libuv, which Debian does not build for mingw-w64). Each links libward.dll,
# as a program outside this tree would; the library is built beside them.
set(WARD_WIN_EXAMPLES echo_worker host_echo)
if(WARD_BUILD_EXAMPLES)
  foreach(name IN LISTS WARD_WIN_EXAMPLES)
    add_executable(${name} ${PROJECT_SOURCE_DIR}/examples/${name}.c)
    target_link_libraries(${name} PRIVATE ward Threads::Threads)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/examples)
  endforeach()
  if(WARD_BUILD_TESTS)
    add_test(NAME example_host_echo COMMAND host_echo)
    set_tests_properties(example_host_echo PROPERTIES TIMEOUT 120 ENVIRONMENT "WINEDEBUG=-all")
  endif()
endif()
