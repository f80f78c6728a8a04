/*
 * spawn.c — starting, stopping and reaping worker processes (Windows).
 *
 * A worker is started with CreateProcessW, suspended, put into a job
 * object of its own and then resumed, so that it and everything it starts
 * belong to the job before any of its code runs. The job is limited with
 * JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE and the host holds its only handle:
 * when the host closes it, or dies however it dies, the system kills the
 * whole tree. That is both the tree kill of a stop and "no orphans", which
 * the guard process gives on POSIX. DIE_ON_UNHANDLED_EXCEPTION keeps a
 * crashed worker from waiting on an error-report dialog.
 *
 * The child inherits exactly its stdio and its channel: the handles are
 * listed with PROC_THREAD_ATTRIBUTE_HANDLE_LIST, and made inheritable only
 * for the spawn. Arguments are UTF-8, turned into UTF-16 and quoted so that
 * CommandLineToArgvW (and the C runtime's parser) gives them back as they
 * were.
 *
 * Exit statuses: an exit code as the process gave it; an exception that
 * ended it (0xC0000005 and its kin) as the POSIX signal that says the same,
 * so the core's "crashed" means the same on both; and an end ward brought
 * about with TerminateJobObject as WARD__STOP_HARD.
 *
 * Priorities: a spec's nice value becomes a priority class, set on the
 * process while it is suspended (the table below); Windows has no
 * documented way to set another process's I/O priority, so the I/O level
 * is not applied.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "ward_int.h"
#include "win.h"

#include <psapi.h>

struct ward__spawner {
  int unused;
};

int ward__spawner_new(ward__spawner **out) {
  *out = calloc(1, sizeof **out);
  return *out ? 0 : WARD_ENOMEM;
}

void ward__spawner_free(ward__spawner *sp) { free(sp); }

/* ------------------------------------------------------------------ */
/* The command line                                                    */

/* Appends `arg` quoted by the rules of CommandLineToArgvW: backslashes are
 * literal except before a quote, where they double and the quote is
 * escaped. Returns the new length, `cap` large enough (see cmdline). */
static size_t quote_arg(wchar_t *out, size_t len, const wchar_t *arg) {
  if (*arg && !wcspbrk(arg, L" \t\n\v\"")) {
    wcscpy(out + len, arg);
    return len + wcslen(arg);
  }
  out[len++] = L'"';
  for (const wchar_t *p = arg;; p++) {
    size_t bs = 0;
    while (*p == L'\\') {
      p++;
      bs++;
    }
    if (!*p) {
      for (size_t i = 0; i < 2 * bs; i++)
        out[len++] = L'\\';
      break;
    }
    if (*p == L'"') {
      for (size_t i = 0; i < 2 * bs + 1; i++)
        out[len++] = L'\\';
    } else {
      for (size_t i = 0; i < bs; i++)
        out[len++] = L'\\';
    }
    out[len++] = *p;
  }
  out[len++] = L'"';
  out[len] = 0;
  return len;
}

static wchar_t *cmdline(char *const *argv) {
  size_t cap = 1, n = 0;
  for (n = 0; argv[n]; n++)
    ;
  wchar_t **w = calloc(n + 1, sizeof *w);
  if (!w)
    return NULL;
  wchar_t *out = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!(w[i] = ward__wide(argv[i])))
      goto done;
    cap += 2 * wcslen(w[i]) + 3 + 1; /* every character escaped, quotes, a space */
  }
  out = malloc(cap * sizeof *out);
  if (out) {
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
      if (i)
        out[len++] = L' ';
      len = quote_arg(out, len, w[i]);
    }
    out[len] = 0;
  }
done:
  for (size_t i = 0; i < n; i++)
    free(w[i]);
  free(w);
  return out;
}

/* Appends `entry` in UTF-16 with its NUL at b[*len] (room counted): 0, or
 * -1 for bad UTF-8. */
static int env_put(wchar_t *b, size_t *len, size_t cap, const char *entry) {
  int n = MultiByteToWideChar(CP_UTF8, 0, entry, -1, b + *len, (int)(cap - *len));
  if (n <= 0)
    return -1;
  *len += (size_t)n;
  return 0;
}

/* The environment block: each entry of `envp`, then `extra` (or NULL),
 * in UTF-16, NUL after each, one more at the end. */
static wchar_t *env_block(char *const *envp, const char *extra) {
  size_t cap = 2 + (extra ? strlen(extra) + 1 : 0), len = 0;
  for (char *const *e = envp; *e; e++)
    cap += strlen(*e) + 1;
  wchar_t *b = malloc(cap * sizeof *b);
  if (!b)
    return NULL;
  int bad = 0;
  for (char *const *e = envp; *e && !bad; e++)
    bad = env_put(b, &len, cap, *e);
  if (extra && !bad)
    bad = env_put(b, &len, cap, extra);
  if (bad) {
    free(b);
    return NULL;
  }
  b[len++] = 0;
  if (len == 1)
    b[len++] = 0;
  return b;
}

/* The executable's full path: a bare name is searched in PATH, and
 * ".exe" is tried when the name has no extension. */
static wchar_t *find_exe(const char *exe) {
  wchar_t *w = ward__wide(exe);
  if (!w)
    return NULL;
  wchar_t buf[MAX_PATH * 4];
  DWORD n = SearchPathW(NULL, w, L".exe", MAX_PATH * 4, buf, NULL);
  if (n && n < MAX_PATH * 4) {
    free(w);
    return _wcsdup(buf);
  }
  return w; /* CreateProcessW says why it cannot run it */
}

/* ------------------------------------------------------------------ */
/* Priorities                                                          */

/* Windows has priority classes where POSIX has nice values: the one table
 * of how they match (docs/platforms.md quotes it, tests/test_classes.c
 * checks the quote). A nice value up to `hi` (and past the row before) is
 * the class `cls`; a process of that class counts as nice `as`, so that a
 * spec's nice value is added to the host's as on POSIX. The cuts are
 * libuv's (uv_os_setpriority), but for the real-time class, which a worker
 * is never given: it can starve the system's own threads. */
static const struct {
  int hi, as;
  DWORD cls;
} prio_table[] = {
    {-8, -14, HIGH_PRIORITY_CLASS},
    {-1, -7, ABOVE_NORMAL_PRIORITY_CLASS},
    {9, 0, NORMAL_PRIORITY_CLASS},
    {18, 10, BELOW_NORMAL_PRIORITY_CLASS},
    {19, 19, IDLE_PRIORITY_CLASS},
};

DWORD ward__win_priority_class(int nice) {
  for (size_t i = 0; i < sizeof prio_table / sizeof prio_table[0]; i++)
    if (nice <= prio_table[i].hi)
      return prio_table[i].cls;
  return IDLE_PRIORITY_CLASS;
}

int ward__win_class_nice(DWORD cls) {
  if (cls == REALTIME_PRIORITY_CLASS)
    return -20;
  for (size_t i = 0; i < sizeof prio_table / sizeof prio_table[0]; i++)
    if (prio_table[i].cls == cls)
      return prio_table[i].as;
  return 0;
}

/* Sets the class that the host's nice value plus `nice` stands for on
 * the new process, still suspended, so none of its code runs at another.
 * No class needs a privilege but the real-time one, never asked for; one
 * refused anyway is left out, as a refused raise is on POSIX. Processes
 * it starts get the normal class, or its own when that is below normal
 * (the system's rule). */
static void set_priority(HANDLE proc, int nice) {
  int want = ward__win_class_nice(GetPriorityClass(GetCurrentProcess())) + nice;
  want = want < -20 ? -20 : want > 19 ? 19 : want;
  SetPriorityClass(proc, ward__win_priority_class(want));
}

/* ------------------------------------------------------------------ */
/* Starting                                                            */

/* An inheritable handle for a child's stdio slot set up as `how` (the
 * host's own stream `std`, NUL, or `fd`), to close after the spawn. */
static HANDLE stdio_handle(int how, ward__fd fd, DWORD std, int write) {
  HANDLE h = NULL, self = GetCurrentProcess();
  if (how == WARD__STDIO_NULL) {
    SECURITY_ATTRIBUTES inh = {sizeof inh, NULL, TRUE};
    h = CreateFileW(L"NUL", write ? GENERIC_WRITE : GENERIC_READ,
                    FILE_SHARE_READ | FILE_SHARE_WRITE, &inh, OPEN_EXISTING, 0, NULL);
    return h == INVALID_HANDLE_VALUE ? NULL : h;
  }
  HANDLE src = NULL;
  if (how == WARD__STDIO_FD) {
    src = fd ? fd->h : NULL;
  } else {
    src = GetStdHandle(std);
  }
  if (!src || src == INVALID_HANDLE_VALUE ||
      !DuplicateHandle(self, src, self, &h, 0, TRUE, DUPLICATE_SAME_ACCESS))
    return NULL;
  return h;
}

static int make_job(HANDLE *job) {
  *job = CreateJobObjectW(NULL, NULL);
  if (!*job)
    return ward__fail_sys(WARD_ESYS, (int)GetLastError(), "CreateJobObject");
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION li;
  memset(&li, 0, sizeof li);
  li.BasicLimitInformation.LimitFlags =
      JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
  if (!SetInformationJobObject(*job, JobObjectExtendedLimitInformation, &li, sizeof li)) {
    DWORD e = GetLastError();
    CloseHandle(*job);
    return ward__fail_sys(WARD_ESYS, (int)e, "SetInformationJobObject");
  }
  return 0;
}

/* How many times a start that failed before it began is attempted. */
#define SPAWN_TRIES 3

typedef struct spawn_state {
  wchar_t *app, *cmd, *env, *cwd;
  HANDLE std[3];
  HANDLE chan;
  LPPROC_THREAD_ATTRIBUTE_LIST attrs;
} spawn_state;

static void spawn_done(spawn_state *s) {
  free(s->app);
  free(s->cmd);
  free(s->env);
  free(s->cwd);
  for (int i = 0; i < 3; i++)
    if (s->std[i])
      CloseHandle(s->std[i]);
  if (s->chan)
    SetHandleInformation(s->chan, HANDLE_FLAG_INHERIT, 0);
  if (s->attrs) {
    DeleteProcThreadAttributeList(s->attrs);
    free(s->attrs);
  }
}

/* The attribute list naming the handles the child inherits. */
static int inherit_list(spawn_state *s, HANDLE *list, size_t n) {
  SIZE_T size = 0;
  InitializeProcThreadAttributeList(NULL, 1, 0, &size);
  s->attrs = malloc(size);
  if (!s->attrs)
    return WARD_ENOMEM;
  if (!InitializeProcThreadAttributeList(s->attrs, 1, 0, &size)) {
    free(s->attrs);
    s->attrs = NULL;
    return ward__fail_sys(WARD_ESYS, (int)GetLastError(), "InitializeProcThreadAttributeList");
  }
  if (!UpdateProcThreadAttribute(s->attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, list,
                                 n * sizeof *list, NULL, NULL))
    return ward__fail_sys(WARD_ESYS, (int)GetLastError(), "UpdateProcThreadAttribute");
  return 0;
}

/* WARD_READY_NOTIFY: a plain process's notification pipe cannot be put
 * at a descriptor number (a->chan_at) on Windows. Its write end is
 * inherited like a channel, under the same value, and this variable names
 * it; the process writes a newline to that handle (docs/platforms.md). */
#define NOTIFY_ENV "WARD_NOTIFY_HANDLE"

static int prepare(spawn_state *s, const ward__spawn_args *a, HANDLE *list, size_t *n) {
  char notify[64] = "";
  if (a->chan_at && ward__fd_valid(a->chan_fd))
    snprintf(notify, sizeof notify, NOTIFY_ENV "=%lld", (long long)(intptr_t)a->chan_fd->h);
  s->app = find_exe(a->exe);
  s->cmd = cmdline(a->argv);
  s->env = env_block(a->envp, notify[0] ? notify : NULL);
  if (!s->app || !s->cmd || !s->env)
    return ward__fail(WARD_EINVAL, "spawn '%s': arguments or environment not UTF-8", a->exe);
  if (a->cwd && !(s->cwd = ward__wide(a->cwd)))
    return ward__fail(WARD_EINVAL, "spawn '%s': working directory not UTF-8", a->exe);
  s->std[0] = stdio_handle(WARD__STDIO_NULL, WARD__FD_NONE, STD_INPUT_HANDLE, 0);
  s->std[1] = stdio_handle(a->out_how, a->out_fd, STD_OUTPUT_HANDLE, 1);
  s->std[2] = stdio_handle(a->err_how, a->err_fd, STD_ERROR_HANDLE, 1);
  *n = 0;
  for (int i = 0; i < 3; i++)
    if (s->std[i])
      list[(*n)++] = s->std[i];
  if (ward__fd_valid(a->chan_fd)) {
    ward__wobj *o = a->chan_fd;
    if (o->kind != WARD__W_PIPE)
      return ward__fail(WARD_EINVAL, "spawn: bad channel");
    /* The same value in the child (ward__chan_env named it). */
    s->chan = o->h;
    if (!SetHandleInformation(s->chan, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT))
      return ward__fail_sys(WARD_ESYS, (int)GetLastError(), "SetHandleInformation");
    list[(*n)++] = s->chan;
  }
  return inherit_list(s, list, *n);
}

int ward__proc_spawn(ward__spawner *sp, ward__proc *p, const ward__spawn_args *a) {
  (void)sp;
  *p = (ward__proc)WARD__PROC_NONE;
  /* No user ids, and no umask a new process could be given. */
  if (a->set_ids || a->set_umask) {
    ward__fail_errno(WARD_ESPAWN, ENOTSUP, a->set_ids ? "user" : "umask"); /* the errno */
    return ward__fail(WARD_ESPAWN, "spawn '%s': the win backend cannot %s", a->exe,
                      a->set_ids ? "run a worker as another user (ward_spec_user)"
                                 : "set a worker's umask (ward_spec_umask)");
  }
  spawn_state s;
  memset(&s, 0, sizeof s);
  HANDLE list[4];
  size_t n = 0;
  HANDLE job = NULL;
  int rv = prepare(&s, a, list, &n);
  if (!rv)
    rv = make_job(&job);
  if (rv) {
    spawn_done(&s);
    return rv;
  }
  STARTUPINFOEXW si;
  memset(&si, 0, sizeof si);
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = s.std[0];
  si.StartupInfo.hStdOutput = s.std[1];
  si.StartupInfo.hStdError = s.std[2];
  si.lpAttributeList = s.attrs;
  PROCESS_INFORMATION pi;
  DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT |
                CREATE_NEW_PROCESS_GROUP;
  /* ERROR_INTERNAL_ERROR says the new process ended during its own
   * start-up, before it ran any of the program: Wine reports so, now and
   * then, when its process server is busy. Nothing of the child's ran, so
   * a new attempt is safe; a few are made before the failure is the
   * caller's. */
  BOOL ok;
  DWORD e;
  int tries = 0;
  do {
    ok = CreateProcessW(s.app, s.cmd, NULL, NULL, n > 0, flags, s.env, s.cwd, &si.StartupInfo,
                        &pi);
    e = ok ? 0 : GetLastError();
  } while (!ok && e == ERROR_INTERNAL_ERROR && ++tries < SPAWN_TRIES);
  spawn_done(&s);
  if (!ok) {
    CloseHandle(job);
    char what[300];
    snprintf(what, sizeof what, "spawn '%.200s'", a->exe);
    return ward__fail_sys(WARD_ESPAWN, (int)e, what);
  }
  if (!AssignProcessToJobObject(job, pi.hProcess)) {
    e = GetLastError();
    TerminateProcess(pi.hProcess, 1);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    CloseHandle(job);
    return ward__fail_sys(WARD_ESYS, (int)e, "AssignProcessToJobObject");
  }
  set_priority(pi.hProcess, a->nice); /* a->ioprio: not on Windows (above) */
  ResumeThread(pi.hThread);
  CloseHandle(pi.hThread);
  ward__wobj *o;
  rv = ward__wobj_new(WARD__W_PROC, &o);
  if (rv) {
    TerminateJobObject(job, 1);
    CloseHandle(pi.hProcess);
    CloseHandle(job);
    return rv;
  }
  o->h = pi.hProcess;
  o->job = job;
  o->pid = pi.dwProcessId;
  p->pid = (int)pi.dwProcessId;
  p->watch = o;
  p->os = o;
  p->started_ms = ward__wall_ms();
  return 0;
}

/* ------------------------------------------------------------------ */
/* Stopping and reaping                                                */

/* The signal that says what an exception status says. */
static int status_signal(DWORD st) {
  switch (st) {
  case 0xC0000005: /* access violation */
  case 0xC00000FD: /* stack overflow */
  case 0xC0000006: /* in-page error */
    return SIGSEGV;
  case 0xC000001D: /* illegal instruction */
  case 0xC0000096: /* privileged instruction */
    return SIGILL;
  case 0xC000008E: case 0xC000008F: case 0xC0000090: case 0xC0000091:
  case 0xC0000092: case 0xC0000093: case 0xC0000094: case 0xC0000095:
    return SIGFPE;
  case 0xC000013A: /* STATUS_CONTROL_C_EXIT: a console control event ended
                    * it, as the soft stop's CTRL_BREAK ends a process that
                    * does not handle it: what SIGTERM does on POSIX */
    return SIGTERM;
  default:
    return (st & 0xF0000000u) == 0xC0000000u ? SIGABRT : 0; /* fail-fast and the rest */
  }
}

int ward__proc_reap(ward__proc *p, int *code, int *sig) {
  *code = -1;
  *sig = 0;
  if (p->pid <= 0)
    return 1;
  ward__wobj *o = p->os;
  if (!o) {
    p->pid = 0;
    return 1;
  }
  if (WaitForSingleObject(o->h, 0) != WAIT_OBJECT_0)
    return 0;
  DWORD st = 0;
  GetExitCodeProcess(o->h, &st);
  /* What it started goes with it, as its process group does on POSIX. */
  TerminateJobObject(o->job, 1);
  int s = status_signal(st);
  if (o->killed)
    *sig = WARD__STOP_HARD;
  else if (s)
    *sig = s;
  else
    *code = (int)st;
  p->pid = 0;
  return 1;
}

void ward__proc_kill(ward__proc *p, int sig) {
  ward__wobj *o = p->os;
  if (p->pid <= 0 || !o)
    return;
  if (sig == WARD__STOP_HARD) {
    o->killed = 1;
    TerminateJobObject(o->job, 1);
  } else {
    /* The soft stop: CTRL_BREAK to its process group, where it shares our
     * console; the hard stop follows after the grace if that did nothing. */
    GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, o->pid);
  }
}

void ward__proc_close(ward__proc *p) {
  ward__close(p->os); /* the process object is also its watch */
  p->os = NULL;
  p->watch = WARD__FD_NONE;
}

ward__fd ward__proc_watch(const ward__proc *p) { return p->watch; }

static uint64_t ft_u64(FILETIME ft) {
  return (uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime;
}

int ward__proc_usage(const ward__proc *p, uint64_t *rss, uint64_t *cpu_ms, int64_t *start_ms) {
  ward__wobj *o = p->os;
  if (!o)
    return WARD_ESYS;
  HANDLE h = o->h;
  PROCESS_MEMORY_COUNTERS pmc;
  FILETIME c, x, k, u;
  int ok = GetProcessTimes(h, &c, &x, &k, &u);
  *rss = GetProcessMemoryInfo(h, &pmc, sizeof pmc) ? (uint64_t)pmc.WorkingSetSize : 0;
  if (!ok)
    return WARD_ESYS;
  *cpu_ms = (ft_u64(k) + ft_u64(u)) / 10000;
  if (start_ms)
    *start_ms = (int64_t)(ft_u64(c) / 10000) - 11644473600000LL;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Process trees: each worker's job object                             */

int ward__trees_kind(const ward__trees *t) { return (void)t, WARD_TREE_JOB; }

int ward__proc_tree(const ward__proc *p) {
  return p->pid > 0 ? WARD_TREE_JOB : WARD_TREE_NONE;
}

/* A job object has no documented way to suspend its processes. */
int ward__proc_pause(ward__proc *p, int on) {
  (void)p, (void)on;
  return ward__fail_errno(WARD_ESYS, ENOTSUP, "pausing a worker (not on Windows: api.md 4.9)");
}
