/*
 * ext.c — the extension host: extensions loaded from their manifests,
 * each run as a worker of the extension class, commands routed to them,
 * host methods guarded by permissions.
 *
 * Design notes
 * ------------
 * An extension host is a ward host of its own plus a table of extensions.
 * Each valid extension gets its worker handle on its first activation
 * (a command, or onStartup at the scan); the handle then lives until the
 * extension host is freed, and ward's supervision does the rest: a lazy
 * spec parks the worker until a call wants a process, the idle timeout
 * parks it again, the class's restart policy restarts it, and past its
 * intensity the worker is failed, which is what "disabled" is here. So
 * one extension's crash, hang or flood is one worker's, and the others
 * never see it.
 *
 * The host learns what happens from its ward host's events (on the I/O
 * thread, without ward's lock): READY is the handshake, where what the
 * process serves is compared with what its manifest contributes; EXITED
 * records how it ended; GAVE_UP disables it. `mu` guards the table; it is
 * never held while the program's callback runs, and ward's own lock is
 * taken under it (ward_spawn_start, a worker's method list), never the
 * other way round.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "ext.h"
#include "host_int.h"
#include "platform.h"

typedef struct ext {
  ward__manifest m;
  int valid;
  char *folder;
  char *file;          /* the manifest's path */
  char error[600];     /* the refusal, the last exit, a mismatch */
  ward__ext_why why;   /* the refusal */
  ward_worker *w;      /* from the first activation on */
  uint64_t wid;
  int disabled;
  int handshaken;      /* the served list below is from a handshake */
  char **missing;      /* contributed commands its process does not serve */
  size_t nmissing;
  uint32_t activations;
  uint64_t denied;
} ext;

typedef struct hmethod {
  ward_ext_host *eh;
  char *method;
  char *perm; /* or NULL */
  ward_handler fn;
  void *ud;
} hmethod;

struct ward_ext_host {
  ward_host *host;
  ward_ext_host_opts opts;
  pthread_mutex_t mu;
  ext **exts;
  size_t n;
  hmethod **methods;
  size_t nmethods;
  char **perms; /* known besides the built-in ones */
  size_t nperms;
};

static void strv_free(char **v, size_t n) {
  for (size_t i = 0; v && i < n; i++)
    free(v[i]);
  free(v);
}

static int strv_push(char ***v, size_t *n, const char *s) {
  char **nv = realloc(*v, (*n + 2) * sizeof *nv);
  if (!nv)
    return WARD_ENOMEM;
  *v = nv;
  if (!(nv[*n] = strdup(s)))
    return WARD_ENOMEM;
  nv[++*n] = NULL;
  return 0;
}

static int strv_has(char *const *v, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], s) == 0)
      return 1;
  return 0;
}

static void emit(ward_ext_host *eh, int type, const ext *e, const char *detail, int pid) {
  if (!eh->opts.on_event)
    return;
  ward_ext_event ev = {.type = type,
                       .ext = e && e->m.name ? e->m.name : NULL,
                       .file = e && !e->valid ? e->file : NULL,
                       .detail = detail,
                       .pid = pid};
  eh->opts.on_event(&ev, eh->opts.event_ud);
}

/* ------------------------------------------------------------------ */
/* Names                                                               */

const char *ward_ext_event_name(int type) {
  static const char *const names[] = {NULL,      "refused", "activated", "mismatch",
                                      "exited",  "idle",    "disabled",  "denied"};
  return type >= 1 && type <= WARD_EXT_EV_DENIED ? names[type] : "unknown";
}

const char *ward_ext_state_name(int state) {
  static const char *const names[] = {NULL, "invalid", "inactive", "starting", "active",
                                      "disabled"};
  return state >= 1 && state <= WARD_EXT_DISABLED ? names[state] : "unknown";
}

/* ------------------------------------------------------------------ */
/* What the ward host tells                                            */

static ext *ext_by_wid(ward_ext_host *eh, uint64_t wid) {
  for (size_t i = 0; i < eh->n; i++)
    if (eh->exts[i]->w && eh->exts[i]->wid == wid)
      return eh->exts[i];
  return NULL;
}

/* At the handshake: what the process serves against what the manifest
 * contributes (lock held). Writes the mismatch, if any, into `text`. */
static int compare_served(ext *e, ward_worker *w, char *text, size_t cap) {
  strv_free(e->missing, e->nmissing);
  e->missing = NULL;
  e->nmissing = 0;
  e->handshaken = 1;
  size_t at = 0;
  text[0] = 0;
  pthread_mutex_lock(&w->host->mu);
  for (size_t i = 0; i < e->m.ncmds; i++)
    if (!strv_has(w->methods, w->nmethods, e->m.cmds[i].id)) {
      strv_push(&e->missing, &e->nmissing, e->m.cmds[i].id);
      at += (size_t)snprintf(text + at, at < cap ? cap - at : 0,
                             "%scontributes '%s' but does not serve it", at ? "; " : "",
                             e->m.cmds[i].id);
    }
  for (size_t i = 0; i < w->nmethods; i++) {
    int contributed = 0;
    for (size_t j = 0; j < e->m.ncmds && !contributed; j++)
      contributed = strcmp(e->m.cmds[j].id, w->methods[i]) == 0;
    if (!contributed && strncmp(w->methods[i], "ward.", 5) != 0)
      at += (size_t)snprintf(text + at, at < cap ? cap - at : 0,
                             "%sserves '%s', which it does not contribute", at ? "; " : "",
                             w->methods[i]);
  }
  pthread_mutex_unlock(&w->host->mu);
  return at > 0;
}

static void on_event(const ward_event *ev, void *ud) {
  ward_ext_host *eh = ud;
  char text[600] = "";
  int type = 0;
  pthread_mutex_lock(&eh->mu);
  ext *e = ext_by_wid(eh, ev->worker_id);
  if (!e) {
    pthread_mutex_unlock(&eh->mu);
    return;
  }
  switch (ev->type) {
  case WARD_EV_READY:
    e->activations++;
    type = WARD_EXT_EV_ACTIVATED;
    if (compare_served(e, ev->worker, text, sizeof text))
      snprintf(e->error, sizeof e->error, "%s", text);
    break;
  case WARD_EV_EXITED:
    type = ev->reason == WARD_REASON_IDLE ? WARD_EXT_EV_IDLE : WARD_EXT_EV_EXITED;
    snprintf(text, sizeof text, "%s", ev->detail ? ev->detail : "");
    if (type == WARD_EXT_EV_EXITED && ev->reason != WARD_REASON_STOPPED)
      snprintf(e->error, sizeof e->error, "%s", text);
    break;
  case WARD_EV_GAVE_UP: {
    ward_class_info c = WARD_CLASS_INFO_INIT;
    ward_class_defaults(&c, WARD_CLASS_EXTENSION);
    e->disabled = 1;
    type = WARD_EXT_EV_DISABLED;
    snprintf(text, sizeof text,
             "disabled: more than %d restarts within %d ms (its class's limit); last: %.400s",
             c.intensity, c.period_ms, e->error[0] ? e->error : "?");
    snprintf(e->error, sizeof e->error, "%s", text);
    break;
  }
  default:
    break;
  }
  ext snapshot_name = {.m = {.name = e->m.name}, .valid = 1};
  int mismatch = ev->type == WARD_EV_READY && text[0];
  pthread_mutex_unlock(&eh->mu);
  /* The name lives as long as the extension host: no copy needed. */
  if (type == WARD_EXT_EV_ACTIVATED) {
    emit(eh, type, &snapshot_name, NULL, ev->pid);
    if (mismatch)
      emit(eh, WARD_EXT_EV_MISMATCH, &snapshot_name, text, ev->pid);
  } else if (type) {
    emit(eh, type, &snapshot_name, text, ev->pid);
  }
}

/* ------------------------------------------------------------------ */
/* The host                                                            */

int ward_ext_host_new(ward_ext_host **out, const ward_ext_host_opts *opts) {
  if (!out)
    return ward__fail(WARD_EINVAL, "NULL out");
  *out = NULL;
  ward_ext_host *eh = calloc(1, sizeof *eh);
  if (!eh)
    return WARD_ENOMEM;
  int rv = ward__ext_host_opts_take(&eh->opts, opts);
  if (rv) {
    free(eh);
    return rv;
  }
  pthread_mutex_init(&eh->mu, NULL);
  ward_host_opts ho = WARD_HOST_OPTS_INIT;
  ho.on_event = on_event;
  ho.event_ud = eh;
  rv = ward_host_new(&eh->host, &ho);
  if (rv) {
    pthread_mutex_destroy(&eh->mu);
    free(eh);
    return rv;
  }
  *out = eh;
  return 0;
}

void ward_ext_host_free(ward_ext_host *eh) {
  if (!eh)
    return;
  /* Every worker stops with the host; the table is read by the events
   * until then. */
  ward_host_free(eh->host);
  for (size_t i = 0; i < eh->n; i++) {
    ext *e = eh->exts[i];
    ward__manifest_free(&e->m);
    strv_free(e->missing, e->nmissing);
    free(e->folder);
    free(e->file);
    free(e);
  }
  free(eh->exts);
  for (size_t i = 0; i < eh->nmethods; i++) {
    free(eh->methods[i]->method);
    free(eh->methods[i]->perm);
    free(eh->methods[i]);
  }
  free(eh->methods);
  strv_free(eh->perms, eh->nperms);
  pthread_mutex_destroy(&eh->mu);
  free(eh);
}

/* ------------------------------------------------------------------ */
/* Host methods and permissions                                        */

static int has_perm(const ext *e, const char *perm) {
  return strv_has(e->m.perms, e->m.nperms, perm);
}

/* Every host method goes through here: which extension calls, and may it. */
static int guarded(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  hmethod *hm = ud;
  ward_ext_host *eh = hm->eh;
  ward_worker *w = ward_ctx_worker(ctx);
  char text[600];
  pthread_mutex_lock(&eh->mu);
  ext *e = w ? ext_by_wid(eh, ward_worker_id(w)) : NULL;
  int allowed = e && (!hm->perm || has_perm(e, hm->perm));
  if (e && !allowed) {
    e->denied++;
    snprintf(text, sizeof text,
             "permission denied: '%s' needs the permission '%s', which extension '%s' did "
             "not ask for",
             hm->method, hm->perm, e->m.name);
  }
  ext snapshot = {.m = {.name = e ? e->m.name : NULL}, .valid = 1};
  pthread_mutex_unlock(&eh->mu);
  if (!e)
    return ward_ctx_fail(ctx, WARD_EPERM, "permission denied: not an extension");
  if (!allowed) {
    emit(eh, WARD_EXT_EV_DENIED, &snapshot, text, ward_worker_pid(w));
    return ward_ctx_fail(ctx, WARD_EPERM, text);
  }
  return hm->fn(ctx, data, len, hm->ud);
}

static int perm_known(const char *perm, void *ud) {
  ward_ext_host *eh = ud;
  return eh->opts.any_permission || strv_has(eh->perms, eh->nperms, perm);
}

int ward_ext_host_permission(ward_ext_host *eh, const char *perm) {
  if (!eh || !ward__perm_name_ok(perm))
    return ward__fail(WARD_EINVAL, "bad permission name");
  pthread_mutex_lock(&eh->mu);
  int rv = strv_has(eh->perms, eh->nperms, perm) ? 0 : strv_push(&eh->perms, &eh->nperms, perm);
  pthread_mutex_unlock(&eh->mu);
  return rv;
}

int ward_ext_host_method(ward_ext_host *eh, const char *method, const char *perm,
                         ward_handler fn, void *ud) {
  if (!eh || !fn || (perm && !ward__perm_name_ok(perm)))
    return ward__fail(WARD_EINVAL, "ward_ext_host_method needs a host, a handler and a "
                                   "well-formed permission (or NULL)");
  int rv = ward__check_name(method);
  if (rv)
    return rv;
  if (perm && (rv = ward_ext_host_permission(eh, perm)) != 0)
    return rv;
  hmethod *hm = calloc(1, sizeof *hm);
  if (!hm || !(hm->method = strdup(method)) || (perm && !(hm->perm = strdup(perm)))) {
    if (hm) {
      free(hm->method);
      free(hm);
    }
    return WARD_ENOMEM;
  }
  hm->eh = eh;
  hm->fn = fn;
  hm->ud = ud;
  pthread_mutex_lock(&eh->mu);
  hmethod **nv = realloc(eh->methods, (eh->nmethods + 1) * sizeof *nv);
  if (nv) {
    eh->methods = nv;
    eh->methods[eh->nmethods++] = hm;
  }
  pthread_mutex_unlock(&eh->mu);
  if (!nv) {
    free(hm->method);
    free(hm->perm);
    free(hm);
    return WARD_ENOMEM;
  }
  /* Kept until the host is freed: ward's handler table points at it. */
  return ward_host_handle(eh->host, method, guarded, hm);
}

/* ------------------------------------------------------------------ */
/* Scanning                                                            */

static ext *ext_by_name(ward_ext_host *eh, const char *name) {
  for (size_t i = 0; i < eh->n; i++)
    if (eh->exts[i]->valid && strcmp(eh->exts[i]->m.name, name) == 0)
      return eh->exts[i];
  return NULL;
}

static int add_ext(ward_ext_host *eh, ext *e) {
  ext **nv = realloc(eh->exts, (eh->n + 1) * sizeof *nv);
  if (!nv)
    return WARD_ENOMEM;
  eh->exts = nv;
  eh->exts[eh->n++] = e;
  return 0;
}

static int activate_locked(ward_ext_host *eh, ext *e, int lazy);

/* Loads the extension in `folder` (lock held). The event for a refusal is
 * left to the caller, who emits it without the lock: *refused is set. */
static int load_one(ward_ext_host *eh, const char *folder, ext **refused, size_t *loaded) {
  ext *e = calloc(1, sizeof *e);
  if (!e)
    return WARD_ENOMEM;
  size_t fl = strlen(folder) + sizeof WARD_EXT_MANIFEST + 1;
  e->folder = strdup(folder);
  e->file = malloc(fl);
  if (!e->folder || !e->file) {
    free(e->folder);
    free(e->file);
    free(e);
    return WARD_ENOMEM;
  }
  snprintf(e->file, fl, "%s/%s", folder, WARD_EXT_MANIFEST);
  ward__ext_why why;
  int rv = ward__manifest_load(&e->m, folder, perm_known, eh, &why);
  if (!rv && ext_by_name(eh, e->m.name)) {
    snprintf(why.path, sizeof why.path, "$.name");
    snprintf(why.reason, sizeof why.reason, "'%s' is loaded already (from %s)", e->m.name,
             ext_by_name(eh, e->m.name)->folder);
    rv = WARD_EINVAL;
  }
  if (rv == WARD_ENOMEM) {
    ward__manifest_free(&e->m);
    free(e->folder);
    free(e->file);
    free(e);
    return rv;
  }
  e->valid = rv == 0;
  if (!e->valid) {
    e->why = why;
    snprintf(e->error, sizeof e->error, "%.80s: %.500s", why.path, why.reason);
  }
  if ((rv = add_ext(eh, e)) != 0) {
    ward__manifest_free(&e->m);
    free(e->folder);
    free(e->file);
    free(e);
    return rv;
  }
  if (!e->valid) {
    *refused = e;
    return 0;
  }
  ++*loaded;
  if (e->m.on_startup || !eh->opts.lazy)
    activate_locked(eh, e, 0);
  return 0;
}

static void emit_refused(ward_ext_host *eh, ext *e) {
  if (!eh->opts.on_event)
    return;
  ward_ext_event ev = {.type = WARD_EXT_EV_REFUSED,
                       .ext = e->m.name,
                       .file = e->file,
                       .path = e->why.path,
                       .detail = e->why.reason};
  eh->opts.on_event(&ev, eh->opts.event_ud);
}

/* The folders under `dir` that hold a manifest, or `dir` itself. */
static int scan_folder(ward_ext_host *eh, const char *dir, size_t *loaded) {
  char file[4096];
  snprintf(file, sizeof file, "%s/%s", dir, WARD_EXT_MANIFEST);
  ext *refused = NULL;
  int rv = 0;
  if (ward__path_kind(file) != WARD__PATH_NONE || ward__path_kind(dir) != WARD__PATH_DIR) {
    pthread_mutex_lock(&eh->mu);
    rv = load_one(eh, dir, &refused, loaded);
    pthread_mutex_unlock(&eh->mu);
    if (refused)
      emit_refused(eh, refused);
    return rv;
  }
  char **names;
  size_t n;
  rv = ward__dir_names(dir, &names, &n);
  if (rv)
    return rv == WARD_ENOMEM ? rv : 0;
  for (size_t i = 0; !rv && i < n; i++) {
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s/%s", dir, names[i], WARD_EXT_MANIFEST);
    if (ward__path_kind(sub) == WARD__PATH_NONE)
      continue;
    snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
    refused = NULL;
    pthread_mutex_lock(&eh->mu);
    rv = load_one(eh, sub, &refused, loaded);
    pthread_mutex_unlock(&eh->mu);
    if (refused)
      emit_refused(eh, refused);
  }
  strv_free(names, n);
  return rv;
}

int ward_ext_host_scan(ward_ext_host *eh, const char *const *folders, size_t count,
                       size_t *loaded) {
  if (!eh || (count && !folders))
    return ward__fail(WARD_EINVAL, "ward_ext_host_scan needs a host and its folders");
  size_t n = 0;
  int rv = 0;
  for (size_t i = 0; !rv && i < count; i++)
    rv = folders[i] ? scan_folder(eh, folders[i], &n)
                    : ward__fail(WARD_EINVAL, "NULL folder");
  if (loaded)
    *loaded = n;
  return rv;
}

/* ------------------------------------------------------------------ */
/* Activation and dispatch                                             */

/* The class's sandbox, widened by the manifest: the extension's folder
 * readable, and its permissions "network", "fs.read:PATH" and
 * "fs.write:PATH" (docs/extensions.md). Best effort, as the class's: what
 * cannot be applied here is left out and ward_info.sandbox says so. */
static int sandbox_of(ward_spec *s, const ext *e, const char *folder) {
  const char **rd = calloc(e->m.nperms + 2, sizeof *rd);
  const char **wr = calloc(e->m.nperms + 1, sizeof *wr);
  if (!rd || !wr) {
    free(rd);
    free(wr);
    return WARD_ENOMEM;
  }
  ward_sandbox sb = WARD_SANDBOX_INIT;
  sb.best_effort = 1;
  size_t nr = 0, nw = 0;
  rd[nr++] = folder;
  for (size_t i = 0; i < e->m.nperms; i++) {
    const char *p = e->m.perms[i];
    if (strcmp(p, "network") == 0)
      sb.permissions |= WARD_PERMIT_NETWORK;
    else if (strncmp(p, "fs.read:", 8) == 0)
      rd[nr++] = p + 8;
    else if (strncmp(p, "fs.write:", 9) == 0)
      wr[nw++] = p + 9;
  }
  sb.read_paths = rd;
  sb.write_paths = nw ? wr : NULL;
  int rv = ward_spec_sandbox(s, &sb);
  free(rd);
  free(wr);
  return rv;
}

/* The extension's worker, started now (lazy: parked until a call) (lock
 * held). */
static int activate_locked(ward_ext_host *eh, ext *e, int lazy) {
  if (e->w)
    return 0;
  ward_spec *s = NULL;
  int rv = ward_spec_new(&s, e->m.name, e->m.program);
  for (size_t i = 0; !rv && i < e->m.nargs; i++)
    rv = ward_spec_arg(s, e->m.args[i]);
  /* The folder as it resolves now: the program may change its own
   * working directory before a later start. */
  char *real = NULL;
  if (!rv && (rv = ward__path_real(e->folder, &real)) == 0)
    rv = ward_spec_cwd(s, real);
  if (!rv)
    rv = sandbox_of(s, e, real);
  free(real);
  if (!rv)
    rv = ward_spec_class(s, WARD_CLASS_EXTENSION);
  if (!rv)
    rv = ward_spec_lazy(s, lazy);
  if (!rv && eh->opts.idle_ms)
    rv = ward_spec_idle_timeout(s, eh->opts.idle_ms > 0 ? eh->opts.idle_ms : 0);
  /* A first start that fails is a failure like any other: restarted
   * within the class's limit, then disabled; the handle stays. */
  if (!rv)
    rv = ward_spec_supervise_start(s, 1);
  if (!rv)
    rv = ward_spawn_start(&e->w, eh->host, s);
  if (!rv)
    e->wid = ward_worker_id(e->w);
  ward_spec_free(s);
  return rv;
}

typedef struct route {
  ext *e;
  const ward__ext_cmd *cmd;
} route;

/* Finds the command (lock held). */
static int find(ward_ext_host *eh, const char *command, route *r) {
  const char *slash = strchr(command, '/');
  r->e = NULL;
  r->cmd = NULL;
  for (size_t i = 0; i < eh->n; i++) {
    ext *e = eh->exts[i];
    if (!e->valid)
      continue;
    const char *id = command;
    if (slash) {
      size_t nl = (size_t)(slash - command);
      if (strlen(e->m.name) != nl || strncmp(e->m.name, command, nl) != 0)
        continue;
      id = slash + 1;
    }
    for (size_t j = 0; j < e->m.ncmds; j++) {
      if (strcmp(e->m.cmds[j].id, id) != 0)
        continue;
      if (r->e)
        return ward__fail(WARD_EINVAL,
                          "command '%s' is contributed by '%s' and '%s': name it as "
                          "EXTENSION/COMMAND",
                          command, r->e->m.name, e->m.name);
      r->e = e;
      r->cmd = &e->m.cmds[j];
    }
  }
  if (!r->e)
    return ward__fail(WARD_ENOMETHOD, "no extension contributes the command '%s'", command);
  return 0;
}

static int check_params(const ward__ext_cmd *cmd, const char *command, const void *params,
                        size_t len) {
  json_error_t jerr;
  json_t *v = len ? json_loadb(params, len, JSON_DECODE_ANY, &jerr) : json_object();
  if (!v)
    return ward__fail(WARD_EINVAL, "'%s': params are not JSON: %s", command, jerr.text);
  int rv = 0;
  ward__ext_why why;
  if (cmd->params)
    rv = ward__schema_validate(cmd->params, v, "params", &why);
  else if (!json_is_object(v))
    rv = ward__fail(WARD_EINVAL, "'%s': params must be an object", command);
  json_decref(v);
  if (rv && cmd->params)
    return ward__fail(WARD_EINVAL, "'%s': %s %s", command, why.path, why.reason);
  return rv;
}

/* Routes, checks the params and activates: the worker to call (lock not
 * held on return). */
static int prepare(ward_ext_host *eh, const char *command, const void *params, size_t len,
                   ward_worker **w, char *id, size_t idcap) {
  if (!eh || !command || (len && !params))
    return ward__fail(WARD_EINVAL, "a command needs a host, a name and its params");
  route r;
  pthread_mutex_lock(&eh->mu);
  int rv = find(eh, command, &r);
  if (!rv)
    rv = check_params(r.cmd, command, params, len);
  if (!rv && r.e->disabled)
    rv = ward__fail(WARD_EGAVEUP, "extension '%s' is disabled: %s", r.e->m.name, r.e->error);
  if (!rv && r.e->handshaken && strv_has(r.e->missing, r.e->nmissing, r.cmd->id))
    rv = ward__fail(WARD_ENOMETHOD,
                    "extension '%s' contributes '%s' but its process does not serve it",
                    r.e->m.name, r.cmd->id);
  if (!rv)
    rv = activate_locked(eh, r.e, 1);
  if (!rv) {
    *w = r.e->w;
    snprintf(id, idcap, "%s", r.cmd->id);
  }
  pthread_mutex_unlock(&eh->mu);
  return rv;
}

/* No params: an empty JSON object, what a command's handler reads. */
static void default_params(const void **params, size_t *len) {
  static const char empty[] = "{}";
  if (!*len) {
    *params = empty;
    *len = sizeof empty - 1;
  }
}

/* A process that does not serve a contributed command answers "no such
 * method": say which extension. */
static int explain(ward_ext_host *eh, ward_worker *w, const char *id, int rv) {
  if (rv != WARD_ENOMETHOD)
    return rv;
  return ward__fail(WARD_ENOMETHOD,
                    "extension '%s' contributes '%s' but its process does not serve it",
                    ward_worker_name(w), id);
  (void)eh;
}

int ward_ext_command(ward_msg **reply, ward_ext_host *eh, const char *command,
                     const void *params, size_t len, const ward_call_opts *opts) {
  if (reply)
    *reply = NULL;
  ward_worker *w;
  char id[WARD__EXT_MAX_NAME + 1];
  int rv = prepare(eh, command, params, len, &w, id, sizeof id);
  if (rv)
    return rv;
  default_params(&params, &len);
  return explain(eh, w, id, ward_request_ex(reply, w, id, params, len, opts));
}

int ward_ext_command_start(ward_call **out, ward_ext_host *eh, const char *command,
                           const void *params, size_t len, const ward_call_opts *opts,
                           ward_call_cb done, void *ud) {
  if (out)
    *out = NULL;
  ward_worker *w;
  char id[WARD__EXT_MAX_NAME + 1];
  int rv = prepare(eh, command, params, len, &w, id, sizeof id);
  if (rv)
    return rv;
  default_params(&params, &len);
  return ward_call_start(out, w, id, params, len, opts, done, ud);
}

/* ------------------------------------------------------------------ */
/* The list                                                            */

/* One block: the struct, then the pointer arrays, then the strings. */
static ward_ext_info *info_of(const ext *e) {
  size_t strings = 0;
  const char *name = e->m.name ? e->m.name : "", *ver = e->m.version ? e->m.version : "";
  strings += strlen(name) + strlen(ver) + strlen(e->folder) + strlen(e->file) +
             strlen(e->error) + 5;
  for (size_t i = 0; i < e->m.ncmds; i++)
    strings += strlen(e->m.cmds[i].id) + 1;
  for (size_t i = 0; i < e->m.nperms; i++)
    strings += strlen(e->m.perms[i]) + 1;
  size_t ptrs = (e->m.ncmds + 1 + e->m.nperms + 1) * sizeof(char *);
  ward_ext_info *in = calloc(1, sizeof *in + ptrs + strings);
  if (!in)
    return NULL;
  const char **cmds = (const char **)(void *)(in + 1);
  const char **perms = cmds + e->m.ncmds + 1;
  char *p = (char *)(perms + e->m.nperms + 1);
#define PUT(dst, src)                    \
  do {                                   \
    size_t l_ = strlen(src) + 1;         \
    memcpy(p, src, l_);                  \
    (dst) = p;                           \
    p += l_;                             \
  } while (0)
  PUT(in->name, name);
  PUT(in->version, ver);
  PUT(in->folder, e->folder);
  PUT(in->manifest, e->file);
  PUT(in->last_error, e->error);
  for (size_t i = 0; i < e->m.ncmds; i++)
    PUT(cmds[i], e->m.cmds[i].id);
  for (size_t i = 0; i < e->m.nperms; i++)
    PUT(perms[i], e->m.perms[i]);
#undef PUT
  in->commands = cmds;
  in->ncommands = e->m.ncmds;
  in->permissions = perms;
  in->npermissions = e->m.nperms;
  in->activations = e->activations;
  in->denied = e->denied;
  in->state = !e->valid ? WARD_EXT_INVALID : e->disabled ? WARD_EXT_DISABLED : WARD_EXT_INACTIVE;
  return in;
}

/* The worker's part, read without the extension host's lock. */
static void info_worker(ward_ext_info *in, ward_worker *w) {
  ward_info wi = WARD_INFO_INIT;
  if (ward_worker_info(&wi, w))
    return;
  in->pid = wi.pid;
  in->restarts = wi.restarts;
  in->sandbox = wi.sandbox;
  if (in->state == WARD_EXT_DISABLED)
    return;
  switch (wi.state) {
  case WARD_STATE_READY:
    in->state = WARD_EXT_ACTIVE;
    break;
  case WARD_STATE_STARTING:
  case WARD_STATE_RESTARTING:
  case WARD_STATE_BACKING_OFF:
    in->state = WARD_EXT_STARTING;
    break;
  case WARD_STATE_FAILED:
    in->state = WARD_EXT_DISABLED;
    break;
  default:
    in->state = WARD_EXT_INACTIVE;
    break;
  }
}

int ward_ext_list(ward_ext_info ***out, size_t *count, ward_ext_host *eh) {
  if (!out || !count || !eh)
    return ward__fail(WARD_EINVAL, "ward_ext_list needs out, count and a host");
  *out = NULL;
  *count = 0;
  pthread_mutex_lock(&eh->mu);
  size_t n = eh->n;
  ward_ext_info **list = calloc(n + 1, sizeof *list);
  ward_worker **ws = calloc(n + 1, sizeof *ws);
  int rv = list && ws ? 0 : WARD_ENOMEM;
  for (size_t i = 0; !rv && i < n; i++) {
    if (!(list[i] = info_of(eh->exts[i])))
      rv = WARD_ENOMEM;
    ws[i] = eh->exts[i]->w;
  }
  pthread_mutex_unlock(&eh->mu);
  for (size_t i = 0; !rv && i < n; i++)
    if (ws[i])
      info_worker(list[i], ws[i]);
  free(ws);
  if (rv) {
    ward_ext_list_free(list, n);
    return rv;
  }
  *out = list;
  *count = n;
  return 0;
}

void ward_ext_list_free(ward_ext_info **list, size_t count) {
  for (size_t i = 0; list && i < count; i++)
    free(list[i]);
  free(list);
}
