/*
 * text.h — extension fixtures for tests/test_ext*.c: folders with a
 * manifest and a program, and the extension side, which is this test
 * binary, copied into the folder as run.sh (the manifest's program must
 * lie in its folder, and the sandbox lets an extension read its folder
 * alone besides the system's), reading its MODE from the file "mode"
 * there (tx_main).
 */
#ifndef WARD_TEXT_H
#define WARD_TEXT_H

#include <pthread.h>
#include <sys/stat.h>

#include <jansson.h>

#include "test.h"
#include "ward.h"

/* ------------------------------------------------------------------ */
/* The extension side                                                  */

static int tx_count(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  json_t *p = json_loadb(d, n, 0, NULL);
  const char *words = json_string_value(json_object_get(p, "words"));
  int count = 0;
  for (const char *s = words ? words : ""; *s;) {
    while (*s == ' ')
      s++;
    if (*s)
      count++;
    while (*s && *s != ' ')
      s++;
  }
  json_decref(p);
  char out[64];
  snprintf(out, sizeof out, "{\"count\":%d}", count);
  ward_ctx_progress(ctx, "\"counting\"", 10);
  return ward_ctx_reply(ctx, out, strlen(out));
}

static int tx_crash(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  abort();
}

static _Noreturn void tx_forever(void) {
  for (;;)
    pause();
}

static int tx_hang(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  tx_forever();
}

/* Calls the host method named in params {"method": M} and replies
 * {"rv": ward_client_request's result, "code": the remote code}. */
static int tx_call_host(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  json_t *p = json_loadb(d, n, 0, NULL);
  const char *m = json_string_value(json_object_get(p, "method"));
  ward_msg *r = NULL;
  int rv = ward_client_request(&r, ud, m ? m : "none", "{}", 2, 10000);
  char out[160];
  snprintf(out, sizeof out, "{\"rv\":%d,\"code\":%d}", rv, r ? ward_msg_code(r) : 0);
  ward_msg_free(r);
  json_decref(p);
  return ward_ctx_reply(ctx, out, strlen(out));
}

/* Floods its host: notifications no one handles, and progress reports. */
static int tx_flood(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  for (int i = 0; i < 20000; i++) {
    ward_client_notify(ud, "host.nothing", "{}", 2);
    if (ward_ctx_progress(ctx, "\"flood\"", 7))
      break;
  }
  return ward_ctx_reply(ctx, "true", 4);
}

/* Opens params {"path": P} for reading: {"ok": 1} or {"ok": 0}. */
static int tx_read(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  json_t *p = json_loadb(d, n, 0, NULL);
  const char *path = json_string_value(json_object_get(p, "path"));
  FILE *f = path ? fopen(path, "r") : NULL;
  if (f)
    fclose(f);
  json_decref(p);
  return ward_ctx_reply(ctx, f ? "{\"ok\":1}" : "{\"ok\":0}", 8);
}

static int tx_pid(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  char out[32];
  snprintf(out, sizeof out, "%d", (int)getpid());
  return ward_ctx_reply(ctx, out, strlen(out));
}

/* MODE "good" serves count, crash, hang, call_host, pid; "short" serves
 * count and extra (not missing). */
static int text_main(const char *mode) {
  ward_client *c;
  if (ward_client_connect(&c))
    return 2;
  ward_client_handle(c, "count", tx_count, c);
  if (strcmp(mode, "short") == 0) {
    ward_client_handle(c, "extra", tx_pid, c);
  } else {
    ward_client_handle(c, "crash", tx_crash, c);
    ward_client_handle(c, "hang", tx_hang, c);
    ward_client_handle(c, "call_host", tx_call_host, c);
    ward_client_handle(c, "pid", tx_pid, c);
    ward_client_handle(c, "flood", tx_flood, c);
    ward_client_handle(c, "read", tx_read, c);
  }
  int rv = ward_client_run(c);
  ward_client_free(c);
  return rv ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Folders                                                             */

static char tx_root[256];

static void tx_write(const char *path, const char *text, int mode) {
  FILE *f = fopen(path, "w");
  T_TRUE(f != NULL);
  T_TRUE(fputs(text, f) >= 0);
  T_TRUE(fclose(f) == 0);
  T_TRUE(chmod(path, (mode_t)mode) == 0);
}

/* A fresh root for a test's extensions. */
static const char *tx_new_root(void) {
  snprintf(tx_root, sizeof tx_root, "/tmp/ward-text-XXXXXX");
  T_TRUE(mkdtemp(tx_root) != NULL);
  return tx_root;
}

static void tx_rm_root(void) {
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tx_root);
  T_TRUE(system(cmd) == 0);
}

/* ROOT/DIR with `manifest`, run.sh (this binary) and its mode. */
static void tx_ext(const char *dir, const char *manifest, const char *mode) {
  char path[512], self[4096], cmd[5000];
  snprintf(path, sizeof path, "%s/%s", tx_root, dir);
  T_TRUE(mkdir(path, 0755) == 0);
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  T_TRUE(n > 0);
  self[n] = 0;
  snprintf(cmd, sizeof cmd, "cp '%s' '%s/run.sh'", self, path);
  T_TRUE(system(cmd) == 0);
  snprintf(path, sizeof path, "%s/%s/mode", tx_root, dir);
  tx_write(path, mode, 0644);
  snprintf(path, sizeof path, "%s/%s/ward-extension.json", tx_root, dir);
  tx_write(path, manifest, 0644);
}

/* In main, first: this binary started as an extension (run.sh in its
 * folder, its working directory) serves as its mode file says, and
 * returns 1 with the exit status in *status; else 0. */
static int tx_main(const char *argv0, int *status) {
  size_t n = strlen(argv0);
  if (n < 7 || strcmp(argv0 + n - 7, "/run.sh") != 0 || !getenv("WARD_FD"))
    return 0;
  char mode[32] = "";
  FILE *f = fopen("mode", "r");
  if (!f || !fgets(mode, sizeof mode, f)) {
    *status = 2;
  } else {
    *status = text_main(mode);
  }
  if (f)
    fclose(f);
  return 1;
}

/* A manifest with name NAME and commands CMDS (JSON array text). */
static const char *tx_manifest(const char *name, const char *cmds, const char *extra) {
  static char buf[4096];
  snprintf(buf, sizeof buf,
           "{\"name\": \"%s\", \"version\": \"1.0.0\", \"protocol\": 1,\n"
           " \"program\": \"run.sh\", \"contributions\": {\"commands\": %s}%s%s}\n",
           name, cmds, extra && *extra ? ", " : "", extra ? extra : "");
  return buf;
}

/* The commands of a "good" extension. */
#define TX_GOOD_CMDS                                                                       \
  "[{\"id\": \"count\", \"title\": \"Count words\", \"params\": {\"type\": \"object\", "   \
  "\"properties\": {\"words\": {\"type\": \"string\"}, \"mode\": {\"type\": \"string\", "  \
  "\"enum\": [\"fast\", \"exact\"]}}, \"required\": [\"words\"], "                         \
  "\"additionalProperties\": false}},"                                                     \
  " {\"id\": \"crash\", \"title\": \"Crash\"}, {\"id\": \"hang\", \"title\": \"Hang\"},"   \
  " {\"id\": \"call_host\", \"title\": \"Call the host\"}, {\"id\": \"pid\", \"title\": \"Pid\"},"  \
  " {\"id\": \"flood\", \"title\": \"Flood\"}, {\"id\": \"read\", \"title\": \"Read\"}]"

/* ------------------------------------------------------------------ */
/* Events                                                              */

typedef struct tx_ev {
  int type;
  char ext[128], file[512], path[256], detail[600];
} tx_ev;

static pthread_mutex_t tx_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tx_cv = PTHREAD_COND_INITIALIZER;
static tx_ev tx_evs[512];
static int tx_nev;

static void tx_on_event(const ward_ext_event *ev, void *ud) {
  (void)ud;
  if (getenv("TX_DEBUG"))
    fprintf(stderr, "ext event %s %s %s %s %s\n", ward_ext_event_name(ev->type),
            ev->ext ? ev->ext : "", ev->file ? ev->file : "", ev->path ? ev->path : "",
            ev->detail ? ev->detail : "");
  pthread_mutex_lock(&tx_mu);
  if (tx_nev < 512) {
    tx_ev *e = &tx_evs[tx_nev++];
    e->type = ev->type;
    snprintf(e->ext, sizeof e->ext, "%s", ev->ext ? ev->ext : "");
    snprintf(e->file, sizeof e->file, "%s", ev->file ? ev->file : "");
    snprintf(e->path, sizeof e->path, "%s", ev->path ? ev->path : "");
    snprintf(e->detail, sizeof e->detail, "%s", ev->detail ? ev->detail : "");
  }
  pthread_cond_broadcast(&tx_cv);
  pthread_mutex_unlock(&tx_mu);
}

static void tx_reset(void) {
  pthread_mutex_lock(&tx_mu);
  tx_nev = 0;
  pthread_mutex_unlock(&tx_mu);
}

/* Waits (20 s at most) for an event of `type` about `ext` (NULL: any). */
static tx_ev tx_wait(int type, const char *ext) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 20;
  pthread_mutex_lock(&tx_mu);
  for (;;) {
    for (int i = 0; i < tx_nev; i++)
      if (tx_evs[i].type == type && (!ext || strcmp(tx_evs[i].ext, ext) == 0)) {
        tx_ev e = tx_evs[i];
        pthread_mutex_unlock(&tx_mu);
        return e;
      }
    if (pthread_cond_timedwait(&tx_cv, &tx_mu, &until) != 0) {
      pthread_mutex_unlock(&tx_mu);
      T_FAIL("no %s event for %s", ward_ext_event_name(type), ext ? ext : "any extension");
    }
  }
}

/* Waits (20 s at most) until `n` events of `type` about `ext` came. */
static __attribute__((unused)) void tx_wait_count(int type, const char *ext, int n) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 20;
  pthread_mutex_lock(&tx_mu);
  for (;;) {
    int got = 0;
    for (int i = 0; i < tx_nev; i++)
      got += tx_evs[i].type == type && strcmp(tx_evs[i].ext, ext) == 0;
    if (got >= n)
      break;
    if (pthread_cond_timedwait(&tx_cv, &tx_mu, &until) != 0) {
      pthread_mutex_unlock(&tx_mu);
      T_FAIL("fewer than %d %s events for %s", n, ward_ext_event_name(type), ext);
    }
  }
  pthread_mutex_unlock(&tx_mu);
}

static int tx_count_events(int type, const char *ext) {
  int n = 0;
  pthread_mutex_lock(&tx_mu);
  for (int i = 0; i < tx_nev; i++)
    n += tx_evs[i].type == type && (!ext || strcmp(tx_evs[i].ext, ext) == 0);
  pthread_mutex_unlock(&tx_mu);
  return n;
}

/* Extensions run sandboxed, and LeakSanitizer's check at exit stops the
 * world with ptrace, which the filter refuses (docs/extensions.md): in
 * sanitizer builds the extensions, which inherit this environment, do not
 * look. This process read its own options when it started. */
static void tx_no_leak_check_in_children(void) {
  const char *asan = getenv("ASAN_OPTIONS");
  if (asan && strstr(asan, "detect_leaks=0"))
    return;
  char opts[1024];
  setenv("ASAN_OPTIONS", t_asan_no_leaks(opts, sizeof opts), 1);
}

static ward_ext_host *tx_host(int idle_ms) {
  tx_no_leak_check_in_children();
  ward_ext_host_opts o = WARD_EXT_HOST_OPTS_INIT;
  o.on_event = tx_on_event;
  o.idle_ms = idle_ms;
  ward_ext_host *eh;
  T_OK(ward_ext_host_new(&eh, &o));
  tx_reset();
  return eh;
}

/* The list's entry for `name`, copied out (state, pid, restarts...). */
static __attribute__((unused)) ward_ext_info tx_info(ward_ext_host *eh, const char *name) {
  ward_ext_info **list;
  size_t n;
  T_OK(ward_ext_list(&list, &n, eh));
  ward_ext_info out;
  memset(&out, 0, sizeof out);
  int found = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i]->name, name) == 0) {
      out = *list[i];
      found = 1;
    }
  /* Strings are not kept: callers look at numbers. */
  out.name = out.version = out.folder = out.manifest = out.last_error = NULL;
  out.commands = out.permissions = NULL;
  ward_ext_list_free(list, n);
  if (!found)
    T_FAIL("no extension %s in the list", name);
  return out;
}

#endif
