/*
 * tself.h — what a test needs to re-execute itself as its own worker, on
 * POSIX systems and on Windows: its own path, its arguments in UTF-8, a
 * nap, what an absolute path looks like, a scratch file's path, waiting
 * on ward_host_fd, and
 * starting, killing and watching processes the way a test must (the host
 * of a test killed from outside).
 */
#ifndef WARD_TSELF_H
#define WARD_TSELF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#include <shellapi.h>
#else
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#endif

#include "ward.h"

/* Waits up to `ms` for the handle ward_host_fd gave to be ready, as a
 * program's own loop would (poll; WaitForSingleObject on Windows): 1 when
 * it is, 0 when the time passed. */
static inline int t_wait_os_handle(ward_os_handle h, int ms) {
#ifdef _WIN32
  return WaitForSingleObject(h, (DWORD)ms) == WAIT_OBJECT_0;
#else
  struct pollfd p = {.fd = h, .events = POLLIN};
  return poll(&p, 1, ms) == 1;
#endif
}

/* Sleeps `ms` milliseconds (a worker pretending to be busy). */
static inline void t_nap_ms(int ms) {
#ifdef _WIN32
  Sleep((DWORD)ms);
#else
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
#endif
}

/* This executable's absolute path (static storage), or NULL. */
static inline const char *t_self_path(void) {
  static char path[4096];
#ifdef _WIN32
  wchar_t w[2048];
  DWORD n = GetModuleFileNameW(NULL, w, 2048);
  if (!n || n >= 2048 ||
      !WideCharToMultiByte(CP_UTF8, 0, w, -1, path, (int)sizeof path, NULL, NULL))
    return NULL;
#else
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n < 0)
    return NULL;
  path[n] = 0;
#endif
  return path;
}

/* Sets an environment variable of this process. */
static inline void t_setenv(const char *name, const char *value) {
#ifdef _WIN32
  _putenv_s(name, value);
#else
  setenv(name, value, 1);
#endif
}

/* Whether `path` is absolute: "/..." on POSIX, "C:\..." or "\\..." on
 * Windows. */
static inline int t_path_absolute(const char *path) {
#ifdef _WIN32
  return (path[0] && path[1] == ':' && (path[2] == '\\' || path[2] == '/')) ||
         (path[0] == '\\' && path[1] == '\\');
#else
  return path[0] == '/';
#endif
}

/* What separates a path's parts as the system writes them. */
#ifdef _WIN32
#define T_PATH_SEP "\\"
#else
#define T_PATH_SEP "/"
#endif

/* The path of a scratch file called `name` and this process's id, in the
 * system's temporary directory ("/tmp" on POSIX). */
static inline void t_tmp_path(char *out, size_t cap, const char *name) {
#ifdef _WIN32
  char dir[MAX_PATH + 1];
  DWORD n = GetTempPathA(sizeof dir, dir);
  if (!n || n > MAX_PATH)
    abort();
  snprintf(out, cap, "%s%s-%lu", dir, name, (unsigned long)GetCurrentProcessId());
#else
  snprintf(out, cap, "/tmp/%s-%d", name, (int)getpid());
#endif
}

/* Starts this binary with the single argument `arg`, its stdout a pipe
 * whose first line goes to `line` (up to `cap` bytes, without the newline)
 * when `line` is not NULL; returns its pid, or aborts. */
static inline int t_spawn_self(const char *arg, char *line, size_t cap) {
#ifdef _WIN32
  SECURITY_ATTRIBUTES inh = {sizeof inh, NULL, TRUE};
  HANDLE rd = NULL, wr = NULL;
  if (line && !CreatePipe(&rd, &wr, &inh, 0))
    abort();
  if (rd)
    SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);
  wchar_t self[2048], cmd[2600];
  if (!GetModuleFileNameW(NULL, self, 2048))
    abort();
  swprintf(cmd, 2600, L"\"%ls\" %hs", self, arg);
  STARTUPINFOW si = {.cb = sizeof si};
  if (wr) {
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdOutput = wr;
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
  }
  PROCESS_INFORMATION pi;
  if (!CreateProcessW(self, cmd, NULL, NULL, wr != NULL, 0, NULL, NULL, &si, &pi))
    abort();
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  if (wr)
    CloseHandle(wr);
  size_t k = 0;
  for (char c; line && k + 1 < cap;) {
    DWORD got = 0;
    if (!ReadFile(rd, &c, 1, &got, NULL) || !got || c == '\n')
      break;
    if (c != '\r')
      line[k++] = c;
  }
  if (line)
    line[k] = 0;
  if (rd)
    CloseHandle(rd);
  return (int)pi.dwProcessId;
#else
  int fds[2] = {-1, -1};
  const char *self = t_self_path();
  if (!self || (line && pipe(fds) != 0))
    abort();
  pid_t pid = fork();
  if (pid < 0)
    abort();
  if (pid == 0) {
    if (line) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
    }
    execl(self, self, arg, (char *)NULL);
    _exit(127);
  }
  size_t k = 0;
  if (line) {
    close(fds[1]);
    for (char c; k + 1 < cap && read(fds[0], &c, 1) == 1 && c != '\n';)
      line[k++] = c;
    line[k] = 0;
    close(fds[0]);
  }
  return (int)pid;
#endif
}

/* Ends process `pid` at once (SIGKILL; TerminateProcess), and reaps it
 * where that is a thing. */
static inline void t_kill_hard(int pid) {
#ifdef _WIN32
  HANDLE h = OpenProcess(PROCESS_TERMINATE | SYNCHRONIZE, FALSE, (DWORD)pid);
  if (!h || !TerminateProcess(h, 9))
    abort();
  WaitForSingleObject(h, INFINITE);
  CloseHandle(h);
#else
  if (kill(pid, SIGKILL) != 0)
    abort();
  waitpid(pid, NULL, 0);
#endif
}

#ifndef _WIN32
/* What /proc/PID/stat says of process `pid`: its name (into `comm`, `cap`
 * bytes, cut to fit; NULL: not wanted), its state letter and its parent.
 * 0, or -1 when it cannot be read (gone). */
static inline int t_proc_stat(int pid, char *comm, size_t cap, char *state, int *ppid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  /* pid (comm) state ppid ...: the name may hold anything, ')' too. */
  char *open = strchr(buf, '('), *close = strrchr(buf, ')'), st = 0;
  int pp = 0;
  if (!open || !close || close < open || sscanf(close + 1, " %c %d", &st, &pp) != 2)
    return -1;
  if (comm && cap) {
    size_t len = (size_t)(close - open - 1);
    len = len < cap ? len : cap - 1;
    memcpy(comm, open + 1, len);
    comm[len] = 0;
  }
  if (state)
    *state = st;
  if (ppid)
    *ppid = pp;
  return 0;
}
#endif

/* Waits up to `ms` for process `pid` (not a child of this one) to be
 * gone: 1 when it is. */
static inline int t_gone_within(int pid, int ms) {
#ifdef _WIN32
  HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
  if (!h)
    return 1;
  int gone = WaitForSingleObject(h, (DWORD)ms) == WAIT_OBJECT_0;
  CloseHandle(h);
  return gone;
#else
  for (int waited = 0; waited <= ms; waited += 10) {
    if (kill(pid, 0) != 0)
      return 1; /* reaped once its parent went */
    /* A zombie is gone too (a container's init may never reap it). */
    char state;
    if (t_proc_stat(pid, NULL, 0, &state, NULL) == 0 && state == 'Z')
      return 1;
    t_nap_ms(10);
  }
  return 0;
#endif
}

/* The arguments as the host gave them, in UTF-8: argv itself on POSIX;
 * on Windows the wide command line (argv is in the ANSI code page). */
static inline char **t_utf8_argv(int argc, char **argv, int *count) {
#ifdef _WIN32
  (void)argc, (void)argv;
  int n = 0;
  wchar_t **w = CommandLineToArgvW(GetCommandLineW(), &n);
  char **out = w ? calloc((size_t)n + 1, sizeof *out) : NULL;
  for (int i = 0; out && i < n; i++) {
    int len = WideCharToMultiByte(CP_UTF8, 0, w[i], -1, NULL, 0, NULL, NULL);
    out[i] = malloc((size_t)len);
    if (out[i])
      WideCharToMultiByte(CP_UTF8, 0, w[i], -1, out[i], len, NULL, NULL);
  }
  LocalFree(w);
  *count = n;
  return out;
#else
  *count = argc;
  return argv;
#endif
}

#endif
