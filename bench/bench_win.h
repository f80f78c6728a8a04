/*
 * bench_win.h — the system's part of bench.h on Windows: raw peers started
 * with CreateProcessW, each inheriting one end of a fresh named pipe (and
 * nothing else: PROC_THREAD_ATTRIBUTE_HANDLE_LIST, as ward's own spawn
 * does); pinning with SetProcessAffinityMask, which the processes started
 * after inherit; QueryPerformanceCounter for the clock. No JSON file:
 * Debian has no jansson built for mingw-w64, so the tables are the output.
 *
 * Under Wine these are Wine's figures, not Windows': Wine keeps a named
 * pipe's buffers in its server process (wineserver), so every transfer on
 * a pipe, ward's and the raw floor's alike, goes through that process.
 *
 * Only bench.h includes this file, after its state and die().
 */
#ifndef WARD_BENCH_WIN_H
#define WARD_BENCH_WIN_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#define BENCH_JSON 0
#define BENCH_RAW_CHANNEL "named pipe"
#define BENCH_RAW_SPAWN "CreateProcessW"
#define BENCH_RAW_EXIT "process handle exit notice"

typedef HANDLE bench_fd;
typedef HANDLE bench_pid;
typedef HANDLE bench_watch; /* the process handle itself */

/* Our executable, as CreateProcessW wants it. */
static wchar_t bench_wself[2048] __attribute__((unused));

/* Dies saying which call failed and the system's error. */
__attribute__((noreturn)) static inline void bench_win_die(const char *what) {
  DWORD e = GetLastError();
  fprintf(stderr, "bench_%s: %s failed (Windows error %lu; ward: %s)\n", B.name ? B.name : "?",
          what, (unsigned long)e, ward_last_error());
  exit(1);
}

static inline int64_t now_ns(void) {
  static LARGE_INTEGER freq; /* the same for every thread: a benign race */
  if (!freq.QuadPart)
    QueryPerformanceFrequency(&freq);
  LARGE_INTEGER c;
  QueryPerformanceCounter(&c);
  int64_t s = c.QuadPart / freq.QuadPart, r = c.QuadPart % freq.QuadPart;
  return s * 1000000000 + r * 1000000000 / freq.QuadPart;
}

/* Finds our executable, so that we can start ourselves again. */
static inline void bench_find_self(void) {
  DWORD n = GetModuleFileNameW(NULL, bench_wself, sizeof bench_wself / sizeof *bench_wself);
  if (!n || n >= sizeof bench_wself / sizeof *bench_wself ||
      !WideCharToMultiByte(CP_UTF8, 0, bench_wself, -1, B.self, (int)sizeof B.self, NULL,
                           NULL))
    bench_win_die("GetModuleFileNameW");
}

static inline void bench_os_init(void) { bench_find_self(); }

/* The CPUs we were allowed at start: "unpinned" gives them back. */
static DWORD_PTR bench_cpus __attribute__((unused));

/* Pins this process (every thread of it, and every process it starts
 * after: they inherit the mask) to its first CPU, or lets it run on every
 * CPU it was allowed at start again. */
static inline void bench_pin(int on) {
  if (!bench_cpus) {
    DWORD_PTR sys;
    if (!GetProcessAffinityMask(GetCurrentProcess(), &bench_cpus, &sys) || !bench_cpus)
      bench_cpus = 1;
  }
  DWORD_PTR first = bench_cpus & (~bench_cpus + 1);
  if (!SetProcessAffinityMask(GetCurrentProcess(), on ? first : bench_cpus) && on) {
    static int warned;
    if (!warned++)
      fprintf(stderr, "bench: cannot pin to one CPU (Windows error %lu): \"same CPU\" "
                      "figures are not pinned\n", (unsigned long)GetLastError());
  }
}

/* Sleeps about `us` microseconds: at least a millisecond here. */
static inline void bench_nap_us(int us) { Sleep((DWORD)((us + 999) / 1000)); }

/* Ends this process as a crash does: the status of a fail-fast
 * (STATUS_STACK_BUFFER_OVERRUN, what the Universal C runtime's abort
 * gives), which ward reports as SIGABRT. msvcrt's abort, which mingw-w64
 * links, would exit with code 3, which says nothing of a crash. */
__attribute__((noreturn)) static inline void bench_crash_now(void) {
  TerminateProcess(GetCurrentProcess(), 0xC0000409u);
  abort();
}

/* ------------------------------------------------------------------ */
/* Raw peers: the same executable, started with CreateProcessW, holding */
/* the client end of a named pipe whose handle value is its argument    */

static inline void write_full(bench_fd fd, const void *p, size_t n) {
  const char *b = p;
  while (n) {
    DWORD chunk = n > (1u << 30) ? (1u << 30) : (DWORD)n, w = 0;
    if (!WriteFile(fd, b, chunk, &w, NULL) || w == 0)
      bench_win_die("raw WriteFile");
    b += w;
    n -= w;
  }
}

/* Returns 0 at end of stream before anything was read, 1 when `n` bytes
 * were read; dies on a short stream. */
static inline int read_full(bench_fd fd, void *p, size_t n) {
  char *b = p;
  size_t got = 0;
  while (got < n) {
    DWORD chunk = n - got > (1u << 30) ? (1u << 30) : (DWORD)(n - got), r = 0;
    if (!ReadFile(fd, b + got, chunk, &r, NULL)) {
      DWORD e = GetLastError();
      if (e != ERROR_BROKEN_PIPE && e != ERROR_PIPE_NOT_CONNECTED)
        bench_win_die("raw ReadFile");
      if (got == 0)
        return 0;
      die("raw read: short stream");
    }
    got += r;
  }
  return 1;
}

/* Appends the UTF-8 `s` to the command line `cmd` of `cap` characters,
 * quoted when `quote` (a path: it holds no quote on Windows). */
static inline void bench_cmd_add(wchar_t *cmd, size_t cap, const char *s, int quote) {
  size_t len = wcslen(cmd);
  if (len && len + 1 < cap)
    cmd[len++] = L' ';
  if (quote && len + 1 < cap)
    cmd[len++] = L'"';
  int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, cmd + len, (int)(cap - len - 2));
  if (n <= 0)
    die("command line too long");
  len += (size_t)n - 1;
  if (quote)
    cmd[len++] = L'"';
  cmd[len] = 0;
}

/* Starts `self arg HANDLE`, the child holding the client end of a fresh
 * named pipe (synchronous) and HANDLE its value. Returns the process; *fd
 * is our end, synchronous, or overlapped when `overlapped`. */
static inline bench_pid raw_spawn_ex(const char *arg, bench_fd *fd, int overlapped) {
  static volatile LONG seq;
  char name[96];
  snprintf(name, sizeof name, "\\\\.\\pipe\\ward-bench-%lu-%ld",
           (unsigned long)GetCurrentProcessId(), (long)InterlockedIncrement(&seq));
  /* Sizes as ward's channel (src/win/handle.c): 64 KiB each way. */
  HANDLE srv = CreateNamedPipeA(name,
                                PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE |
                                    (overlapped ? FILE_FLAG_OVERLAPPED : 0),
                                PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                                    PIPE_REJECT_REMOTE_CLIENTS,
                                1, 64 * 1024, 64 * 1024, 0, NULL);
  if (srv == INVALID_HANDLE_VALUE)
    bench_win_die("CreateNamedPipe");
  SECURITY_ATTRIBUTES inherit = {sizeof inherit, NULL, TRUE};
  HANDLE cli = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, &inherit, OPEN_EXISTING, 0,
                           NULL);
  if (cli == INVALID_HANDLE_VALUE)
    bench_win_die("CreateFile (pipe)");

  SIZE_T size = 0;
  InitializeProcThreadAttributeList(NULL, 1, 0, &size);
  LPPROC_THREAD_ATTRIBUTE_LIST attrs = malloc(size);
  if (!attrs || !InitializeProcThreadAttributeList(attrs, 1, 0, &size) ||
      !UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, &cli, sizeof cli,
                                 NULL, NULL))
    bench_win_die("the handle list");
  char end[32];
  snprintf(end, sizeof end, "%llu", (unsigned long long)(uintptr_t)cli);
  wchar_t cmd[4096] = L"";
  bench_cmd_add(cmd, sizeof cmd / sizeof *cmd, B.self, 1);
  bench_cmd_add(cmd, sizeof cmd / sizeof *cmd, arg, 0);
  bench_cmd_add(cmd, sizeof cmd / sizeof *cmd, end, 0);
  STARTUPINFOEXW si;
  memset(&si, 0, sizeof si);
  si.StartupInfo.cb = sizeof si;
  si.lpAttributeList = attrs;
  PROCESS_INFORMATION pi;
  /* ERROR_INTERNAL_ERROR: the child ended in its own start-up, before any
   * of it ran, as Wine reports now and then when its server is busy; a
   * new attempt is safe, and ward's spawn makes up to three too
   * (src/win/spawn.c). */
  BOOL ok;
  DWORD e;
  int tries = 0;
  do {
    ok = CreateProcessW(bench_wself, cmd, NULL, NULL, TRUE, EXTENDED_STARTUPINFO_PRESENT, NULL,
                        NULL, &si.StartupInfo, &pi);
    e = ok ? 0 : GetLastError();
  } while (!ok && e == ERROR_INTERNAL_ERROR && ++tries < 3);
  DeleteProcThreadAttributeList(attrs);
  free(attrs);
  if (!ok) {
    SetLastError(e);
    bench_win_die("CreateProcessW");
  }
  CloseHandle(pi.hThread);
  CloseHandle(cli);
  *fd = srv;
  return pi.hProcess;
}

static inline bench_pid raw_spawn(const char *arg, bench_fd *fd) {
  return raw_spawn_ex(arg, fd, 0);
}

/* A raw peer's end of its channel: `end` is its third argument. */
static inline bench_fd raw_child_end(const char *end) {
  if (!end)
    die("a raw peer needs its pipe's handle");
  return (HANDLE)(uintptr_t)strtoull(end, NULL, 10);
}

static inline void raw_reap(bench_pid pid, bench_fd fd) {
  if (fd)
    CloseHandle(fd);
  WaitForSingleObject(pid, INFINITE);
  CloseHandle(pid);
}

static inline bench_watch raw_watch(bench_pid pid) { return pid; }

/* Waits until the peer has ended, leaving it to raw_reap. */
static inline void raw_wait_exit(bench_pid pid, bench_watch w) {
  (void)pid;
  WaitForSingleObject(w, INFINITE);
}

#endif
