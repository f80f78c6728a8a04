/*
 * os.c — clocks, random bytes, directories, threads and the odds and ends
 * of platform.h (Windows). What has no Windows meaning is a documented
 * no-op here (docs/platforms.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "ward_int.h"
#include "win.h"

#include <bcrypt.h>
#include <sddl.h>

static int64_t qpc_per_s;

static int64_t qpc_now(void) {
  LARGE_INTEGER c, f;
  if (!qpc_per_s) {
    QueryPerformanceFrequency(&f); /* fixed at boot */
    qpc_per_s = f.QuadPart;
  }
  QueryPerformanceCounter(&c);
  return c.QuadPart;
}

int64_t ward__now_ms(void) {
  int64_t c = qpc_now();
  return c / qpc_per_s * 1000 + c % qpc_per_s * 1000 / qpc_per_s;
}

int64_t ward__now_us(void) {
  int64_t c = qpc_now();
  return c / qpc_per_s * 1000000 + c % qpc_per_s * 1000000 / qpc_per_s;
}

int64_t ward__wall_ms(void) {
  FILETIME ft;
  GetSystemTimePreciseAsFileTime(&ft);
  ULARGE_INTEGER u = {.LowPart = ft.dwLowDateTime, .HighPart = ft.dwHighDateTime};
  /* 100 ns ticks since 1601 */
  return (int64_t)(u.QuadPart / 10000) - 11644473600000LL;
}

int64_t ward__deadline(int ms) {
  if (ms < 0)
    return INT64_MAX;
  return ward__now_ms() + ms;
}

int ward__random(void *buf, size_t n) {
  NTSTATUS st = BCryptGenRandom(NULL, buf, (ULONG)n, BCRYPT_USE_SYSTEM_PREFERRED_RNG);
  return st < 0 ? ward__fail(WARD_ESYS, "BCryptGenRandom: status 0x%08lx", (unsigned long)st) : 0;
}

void ward__mem_trim(void) {}

int ward__self_pid(void) { return (int)GetCurrentProcessId(); }

/* A process's end leaves nothing to reap on Windows. */
int ward__child_ended(int *pid) {
  *pid = 0;
  return 0;
}

void ward__child_reap(int pid, int *code, int *sig) {
  (void)pid;
  *code = -1;
  *sig = 0;
}

void ward__sleep_ms(int ms) { Sleep(ms < 0 ? 0 : (DWORD)ms); }

/* A worker dies with its host through its job object (spawn.c), whoever
 * its parent is: nothing to set up in the worker. */
void ward__follow_parent(long ppid) { (void)ppid; }

int ward__thread_start(pthread_t *t, void *(*fn)(void *), void *arg) {
  /* No signals to block: console events arrive on threads of their own. */
  int e = pthread_create(t, NULL, fn, arg);
  return e ? ward__fail_errno(WARD_ESYS, e, "pthread_create") : 0;
}

const char *ward__sys_text(int code, char *buf, size_t cap) {
  wchar_t w[512];
  DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                           (DWORD)code, 0, w, sizeof w / sizeof w[0], NULL);
  /* "The system cannot find the file specified.\r\n": one line, no period. */
  while (n > 0 && (w[n - 1] == L'\r' || w[n - 1] == L'\n' || w[n - 1] == L' ' || w[n - 1] == L'.'))
    n--;
  w[n] = 0;
  if (!n || !WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, (int)cap, NULL, NULL))
    snprintf(buf, cap, "error %d", code);
  return buf;
}

/* How many bytes a write to pipe `h` takes now without waiting: the free
 * space of its buffer (FilePipeLocalInformation's WriteQuotaAvailable,
 * what the system itself reports for a pipe's write end), or SIZE_MAX
 * when the pipe does not say (under Wine, a Unix pipe): then the write is
 * made whole, as to a file. */
static size_t pipe_room(HANDLE h) {
  typedef struct {
    ULONG type, config, max_instances, instances, in_quota, read_avail, out_quota, write_avail,
        state, end;
  } pipe_local_info;
  typedef struct {
    LONG status;
    ULONG_PTR info;
  } io_status;
  typedef LONG(NTAPI * query_fn)(HANDLE, io_status *, void *, ULONG, int);
  static query_fn query;
  if (!query)
    query = (query_fn)(void (*)(void))GetProcAddress(GetModuleHandleW(L"ntdll.dll"),
                                                    "NtQueryInformationFile");
  pipe_local_info pli;
  io_status io;
  if (!query || query(h, &io, &pli, sizeof pli, 24 /* FilePipeLocalInformation */) < 0)
    return SIZE_MAX;
  return pli.write_avail;
}

size_t ward__stderr_now(const void *p, size_t n) {
  HANDLE h = GetStdHandle(STD_ERROR_HANDLE);
  DWORD w = 0;
  if (!h || h == INVALID_HANDLE_VALUE)
    return n; /* best effort: nowhere to write is as good as written */
  /* A write to a full pipe waits for its reader, who may never come: only
   * what its buffer takes now is written. A console or a file takes all. */
  if (GetFileType(h) == FILE_TYPE_PIPE) {
    size_t room = pipe_room(h);
    if (n > room)
      n = room;
    if (!n)
      return 0;
  }
  if (!WriteFile(h, p, (DWORD)n, &w, NULL))
    return n;
  return w;
}

/* ------------------------------------------------------------------ */
/* The current user's security attributes                              */

static SRWLOCK sa_mu = SRWLOCK_INIT;
static SECURITY_ATTRIBUTES sa;
static int sa_state; /* 0 not tried, 1 made, -1 failed */

/* "Owner and the user alone, full access": D:P(A;;GA;;;SID). */
static int make_sa(void) {
  HANDLE tok;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
    return -1;
  char buf[256];
  DWORD len = 0;
  int ok = GetTokenInformation(tok, TokenUser, buf, sizeof buf, &len);
  CloseHandle(tok);
  if (!ok)
    return -1;
  wchar_t *sid = NULL;
  if (!ConvertSidToStringSidW(((TOKEN_USER *)(void *)buf)->User.Sid, &sid))
    return -1;
  wchar_t sddl[256];
  swprintf(sddl, 256, L"D:P(A;;GA;;;%ls)", sid);
  LocalFree(sid);
  PSECURITY_DESCRIPTOR sd = NULL;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL))
    return -1;
  sa.nLength = sizeof sa;
  sa.lpSecurityDescriptor = sd; /* kept for the life of the process */
  sa.bInheritHandle = FALSE;
  return 1;
}

SECURITY_ATTRIBUTES *ward__user_only_sa(void) {
  AcquireSRWLockExclusive(&sa_mu);
  if (!sa_state)
    sa_state = make_sa();
  ReleaseSRWLockExclusive(&sa_mu);
  return sa_state > 0 ? &sa : NULL;
}

/* ------------------------------------------------------------------ */
/* Directories                                                         */

const char *ward__runtime_dir(void) {
  static char *dir;
  static SRWLOCK mu = SRWLOCK_INIT;
  AcquireSRWLockExclusive(&mu);
  if (!dir) {
    wchar_t w[MAX_PATH + 1];
    DWORD n = GetTempPathW(MAX_PATH + 1, w);
    if (n > 0 && n <= MAX_PATH) {
      while (n > 3 && (w[n - 1] == L'\\' || w[n - 1] == L'/'))
        w[--n] = 0;
      dir = ward__narrow(w);
    }
    if (!dir)
      dir = ".";
  }
  ReleaseSRWLockExclusive(&mu);
  return dir;
}

static void remove_w(const wchar_t *path) {
  DWORD attr = GetFileAttributesW(path);
  if (attr == INVALID_FILE_ATTRIBUTES)
    return;
  /* A link or junction goes alone, without what it points to. */
  if ((attr & FILE_ATTRIBUTE_DIRECTORY) && !(attr & FILE_ATTRIBUTE_REPARSE_POINT)) {
    size_t len = wcslen(path);
    wchar_t *pat = malloc((len + 3) * sizeof *pat);
    if (!pat)
      return;
    swprintf(pat, len + 3, L"%ls\\*", path);
    WIN32_FIND_DATAW fd;
    HANDLE f = FindFirstFileW(pat, &fd);
    free(pat);
    if (f != INVALID_HANDLE_VALUE) {
      do {
        if (!wcscmp(fd.cFileName, L".") || !wcscmp(fd.cFileName, L".."))
          continue;
        size_t n = len + wcslen(fd.cFileName) + 2;
        wchar_t *sub = malloc(n * sizeof *sub);
        if (sub) {
          swprintf(sub, n, L"%ls\\%ls", path, fd.cFileName);
          remove_w(sub);
          free(sub);
        }
      } while (FindNextFileW(f, &fd));
      FindClose(f);
    }
    RemoveDirectoryW(path);
  } else {
    if (attr & FILE_ATTRIBUTE_READONLY)
      SetFileAttributesW(path, attr & ~(DWORD)FILE_ATTRIBUTE_READONLY);
    if (attr & FILE_ATTRIBUTE_DIRECTORY)
      RemoveDirectoryW(path);
    else
      DeleteFileW(path);
  }
}

void ward__remove_tree(const char *path) {
  wchar_t *w = ward__wide(path);
  if (w)
    remove_w(w);
  free(w);
}

/* Windows has no user and group ids to switch to: a spec with
 * ward_spec_user fails to start (ward__proc_spawn says so); nothing to
 * look up here. */
int ward__user_groups(uint32_t uid, uint32_t gid, uint32_t **groups, size_t *n) {
  (void)uid, (void)gid;
  *groups = NULL;
  *n = 0;
  return 0;
}

int ward__give_dir(const char *path, uint32_t uid, uint32_t gid) {
  (void)path, (void)uid, (void)gid;
  ward__fail_errno(WARD_ESPAWN, ENOTSUP, "user"); /* the errno */
  return ward__fail(WARD_ESPAWN, "a worker cannot run as another user on Windows "
                                 "(ward_spec_user): the win backend has no user ids");
}

int ward__private_dir(const char *root, const char *prefix, const char *what, char **out) {
  char path[4096], label[96], safe[256];
  /* A worker's name may hold what a Windows file name may not. */
  snprintf(safe, sizeof safe, "%s", prefix);
  for (char *p = safe; *p; p++)
    if (strchr("<>:\"\\/|?*", *p) || (unsigned char)*p < 32)
      *p = '_';
  prefix = safe;
  for (int tries = 0; tries < 16; tries++) {
    unsigned char r[6];
    ward__random(r, sizeof r);
    if (snprintf(path, sizeof path, "%s\\%s%02x%02x%02x%02x%02x%02x", root, prefix, r[0], r[1],
                 r[2], r[3], r[4], r[5]) >= (int)sizeof path)
      return ward__fail(WARD_EINVAL, "%s path too long", what);
    wchar_t *w = ward__wide(path);
    if (!w)
      return ward__fail(WARD_EINVAL, "%s path is not UTF-8", what);
    BOOL ok = CreateDirectoryW(w, ward__user_only_sa());
    DWORD e = GetLastError();
    if (!ok) {
      free(w);
      if (e == ERROR_ALREADY_EXISTS)
        continue;
      snprintf(label, sizeof label, "CreateDirectory (%s)", what);
      return ward__fail_sys(WARD_ESYS, (int)e, label);
    }
    /* Absolute, so that it means the same from any working directory. */
    wchar_t full[MAX_PATH * 4];
    DWORD n = GetFullPathNameW(w, MAX_PATH * 4, full, NULL);
    *out = n && n < MAX_PATH * 4 ? ward__narrow(full) : ward__narrow(w);
    free(w);
    return *out ? 0 : WARD_ENOMEM;
  }
  snprintf(label, sizeof label, "CreateDirectory (%s)", what);
  return ward__fail_sys(WARD_ESYS, ERROR_ALREADY_EXISTS, label);
}

/* ------------------------------------------------------------------ */
/* The guard: the job objects of spawn.c do its work                   */

/* Every worker runs in a job object with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
 * whose only handle is the host's: when the host dies, however, the
 * system closes it and kills each worker's whole tree. So there is no
 * guard process; data directories of a host that died stay behind (in the
 * temporary directory), as docs/platforms.md says. */
void ward__guard_init(ward__guard *g) {
  g->pid = 0;
  g->fd = WARD__FD_NONE;
}
int ward__guard_start(ward__guard *g) {
  ward__guard_init(g);
  return 0;
}
void ward__guard_add(ward__guard *g, const ward__proc *p) { (void)g, (void)p; }
void ward__guard_remove(ward__guard *g, const ward__proc *p) { (void)g, (void)p; }
void ward__guard_add_dir(ward__guard *g, uint64_t id, const char *path) {
  (void)g, (void)id, (void)path;
}
void ward__guard_remove_dir(ward__guard *g, uint64_t id) { (void)g, (void)id; }
void ward__guard_tree(ward__guard *g, const char *dir) { (void)g, (void)dir; }
void ward__guard_stop(ward__guard *g) { (void)g; }

size_t ward__mem_usable(void *p) { return _msize(p); }

int ward__cond_init(pthread_cond_t *c) { return pthread_cond_init(c, NULL) ? WARD_ESYS : 0; }

int ward__cond_wait(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline) {
  if (deadline == INT64_MAX) {
    pthread_cond_wait(c, m);
    return 0;
  }
  int64_t left = deadline - ward__now_ms();
  if (left <= 0)
    return WARD_ETIMEDOUT;
  struct timespec rel = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
  pthread_cond_timedwait_relative_np(c, m, &rel);
  return 0;
}
