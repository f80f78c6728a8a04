/*
 * spec.c — the builder of how to start a worker, and the copy a worker
 * keeps of it (argv and envp ready for exec).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "host_int.h"
#include "sandbox.h"

static int push_str(char ***v, size_t *n, const char *s) {
  char *d = s ? strdup(s) : NULL;
  if (s && !d)
    return WARD_ENOMEM;
  char **nv = realloc(*v, (*n + 2) * sizeof *nv);
  if (!nv) {
    free(d);
    return WARD_ENOMEM;
  }
  nv[(*n)++] = d;
  nv[*n] = NULL;
  *v = nv;
  return 0;
}

int ward_spec_new(ward_spec **out, const char *name, const char *executable) {
  if (!out || !executable || !*executable)
    return ward__fail(WARD_EINVAL, "spec needs an executable");
  int rv = ward__check_name(name);
  if (rv)
    return rv;
  ward_spec *s = calloc(1, sizeof *s);
  if (!s)
    return WARD_ENOMEM;
  s->name = strdup(name);
  s->exe = strdup(executable);
  /* The defaults are ward.h's; what is not set here starts at 0. */
  s->transport = WARD_TRANSPORT_INHERIT;
  s->startup_timeout_ms = WARD_STARTUP_TIMEOUT_MS_DEFAULT;
  s->request_timeout_ms = WARD_REQUEST_TIMEOUT_MS_DEFAULT;
  s->stop_grace_ms = WARD_STOP_GRACE_MS_DEFAULT;
  s->zerocopy_min = WARD_ZEROCOPY_MIN_DEFAULT;
  s->stop_signal = WARD_STOP_SIGNAL_DEFAULT;
  s->policy.restart = WARD_RESTART_DEFAULT;
  s->policy.intensity = WARD_INTENSITY_DEFAULT;
  s->policy.period_ms = WARD_INTENSITY_PERIOD_MS_DEFAULT;
  s->policy.backoff_initial_ms = WARD_BACKOFF_INITIAL_MS_DEFAULT;
  s->policy.backoff_max_ms = WARD_BACKOFF_MAX_MS_DEFAULT;
  s->policy.backoff_mult_pct = WARD_BACKOFF_MULTIPLIER_PCT_DEFAULT;
  s->policy.backoff_reset_ms = WARD_BACKOFF_RESET_MS_DEFAULT;
  s->heartbeat_misses = WARD_HEARTBEAT_MISSES_DEFAULT;
  s->kill_on_timeout = WARD_KILL_ON_TIMEOUT_DEFAULT;
  s->mem_sample_ms = WARD_MEMORY_SAMPLE_MS_DEFAULT;
  s->wait_restart = WARD_WAIT_RESTART_DEFAULT;
  s->cancel_grace_ms = WARD_CANCEL_GRACE_MS_DEFAULT;
  s->output = WARD_OUTPUT_CAPTURE;
  s->log_ring = WARD_LOG_RING_DEFAULT;
  s->spares = WARD_SPARES_DEFAULT;
  s->proc_class = WARD_CLASS_WORKER;
  s->umask = -1;
  ward__spec_apply_class(s);
  if (!s->name || !s->exe) {
    ward_spec_free(s);
    return WARD_ENOMEM;
  }
  *out = s;
  return 0;
}

void ward_spec_free(ward_spec *s) {
  if (!s)
    return;
  free(s->name);
  free(s->exe);
  free(s->cwd);
  free(s->ver_min);
  free(s->ver_below);
  free(s->data_root);
  ward__strv_free(s->req_methods);
  ward__strv_free(s->args);
  ward__strv_free(s->env);
  ward__sandbox_free(s->sandbox);
  free(s->groups);
  free(s);
}

int ward_spec_arg(ward_spec *s, const char *arg) {
  if (!s || !arg)
    return ward__fail(WARD_EINVAL, "NULL argument");
  return push_str(&s->args, &s->nargs, arg);
}

int ward_spec_env(ward_spec *s, const char *key, const char *value) {
  if (!s || !key || !*key || strchr(key, '='))
    return ward__fail(WARD_EINVAL, "bad environment key");
  if (strncmp(key, "WARD_", 5) == 0)
    return ward__fail(WARD_EINVAL, "WARD_* variables are ward's own ('%s')", key);
  /* Stored as "KEY=VALUE", or "KEY" alone for a removal. */
  size_t kl = strlen(key), vl = value ? strlen(value) : 0;
  char *kv = malloc(kl + vl + 2);
  if (!kv)
    return WARD_ENOMEM;
  memcpy(kv, key, kl);
  kv[kl] = 0;
  if (value) {
    kv[kl] = '=';
    memcpy(kv + kl + 1, value, vl + 1);
  }
  int rv = push_str(&s->env, &s->nenv, kv);
  free(kv);
  return rv;
}

int ward_spec_cwd(ward_spec *s, const char *dir) {
  if (!s || !dir)
    return ward__fail(WARD_EINVAL, "NULL directory");
  char *d = strdup(dir);
  if (!d)
    return WARD_ENOMEM;
  free(s->cwd);
  s->cwd = d;
  return 0;
}

int ward_spec_transport(ward_spec *s, int transport) {
  if (!s || (transport != WARD_TRANSPORT_INHERIT && transport != WARD_TRANSPORT_SOCKET))
    return ward__fail(WARD_EINVAL, "unknown transport %d", transport);
  s->transport = transport;
  return 0;
}

int ward_spec_frames(ward_spec *s, int frames) {
  if (!s || (frames != WARD_FRAMES_AUTO && frames != WARD_FRAMES_SOCKET &&
             frames != WARD_FRAMES_SHM))
    return ward__fail(WARD_EINVAL, "unknown frames setting %d", frames);
  if (frames == WARD_FRAMES_SHM && !ward__shm_supported())
    return ward__fail(WARD_EINVAL, "no shared-memory transport on the %s backend",
                      WARD__BACKEND_NAME);
  s->frames = frames;
  return 0;
}

int ward_spec_user(ward_spec *s, uint32_t uid, uint32_t gid) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  uint32_t *groups = NULL;
  size_t n = 0;
  int rv = ward__user_groups(uid, gid, &groups, &n);
  if (rv)
    return rv;
  free(s->groups);
  s->groups = groups;
  s->ngroups = n;
  s->uid = uid;
  s->gid = gid;
  s->set_ids = 1;
  return 0;
}

int ward_spec_umask(ward_spec *s, int mask) {
  if (!s || mask < -1 || mask > 0777)
    return ward__fail(WARD_EINVAL, "umask must be 0..0777, or -1 for the host's");
  s->umask = mask;
  return 0;
}

static int set_ms(ward_spec *s, int *field, int ms) {
  if (!s || ms < 0)
    return ward__fail(WARD_EINVAL, "timeout must be >= 0 ms");
  *field = ms;
  return 0;
}

int ward_spec_startup_timeout(ward_spec *s, int ms) {
  return set_ms(s, s ? &s->startup_timeout_ms : NULL, ms);
}
int ward_spec_request_timeout(ward_spec *s, int ms) {
  return set_ms(s, s ? &s->request_timeout_ms : NULL, ms);
}
int ward_spec_stop_grace(ward_spec *s, int ms) {
  return set_ms(s, s ? &s->stop_grace_ms : NULL, ms);
}

int ward_spec_restart(ward_spec *s, int mode) {
  if (!s || mode < WARD_RESTART_NEVER || mode > WARD_RESTART_ALWAYS)
    return ward__fail(WARD_EINVAL, "unknown restart mode %d", mode);
  s->policy.restart = mode;
  s->set |= WARD__SET_RESTART;
  return 0;
}

int ward_spec_intensity(ward_spec *s, int max_restarts, int period_ms) {
  if (!s || max_restarts < 0 || max_restarts > WARD__MAX_INTENSITY || period_ms < 0)
    return ward__fail(WARD_EINVAL, "intensity must be 0..%d restarts in >= 0 ms",
                      WARD__MAX_INTENSITY);
  s->policy.intensity = max_restarts;
  s->policy.period_ms = period_ms;
  s->set |= WARD__SET_INTENSITY;
  return 0;
}

int ward_spec_backoff(ward_spec *s, int initial_ms, int max_ms, int multiplier_pct,
                      int reset_after_ms) {
  if (!s || initial_ms < 0 || max_ms < 0 || multiplier_pct < 100 || reset_after_ms < 0)
    return ward__fail(WARD_EINVAL, "backoff needs delays >= 0 and a multiplier >= 100 %%");
  s->policy.backoff_initial_ms = initial_ms;
  s->policy.backoff_max_ms = max_ms;
  s->policy.backoff_mult_pct = multiplier_pct;
  s->policy.backoff_reset_ms = reset_after_ms;
  return 0;
}

int ward_spec_heartbeat(ward_spec *s, int interval_ms, int misses) {
  if (!s || interval_ms < 0 || misses < 1)
    return ward__fail(WARD_EINVAL, "heartbeat needs an interval >= 0 and misses >= 1");
  s->heartbeat_ms = interval_ms;
  s->heartbeat_misses = misses;
  s->set |= WARD__SET_HEARTBEAT;
  return 0;
}

int ward_spec_kill_on_timeout(ward_spec *s, int on) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  s->kill_on_timeout = !!on;
  return 0;
}

int ward_spec_max_requests(ward_spec *s, uint64_t n) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  s->max_requests = n;
  return 0;
}

int ward_spec_memory_limit(ward_spec *s, uint64_t soft_bytes, uint64_t hard_bytes,
                           int sample_ms) {
  if (!s || sample_ms < 0)
    return ward__fail(WARD_EINVAL, "bad memory limit");
  s->mem_soft = soft_bytes;
  s->mem_hard = hard_bytes;
  s->mem_sample_ms = sample_ms ? sample_ms : WARD_MEMORY_SAMPLE_MS_DEFAULT;
  s->set |= WARD__SET_MEMORY;
  return 0;
}

int ward_spec_tree_limits(ward_spec *s, uint64_t memory_max, uint64_t memory_high,
                          uint64_t pids_max, uint32_t cpu_percent) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  if (cpu_percent > 100000)
    return ward__fail(WARD_EINVAL, "cpu_percent %u is over 100000 (1000 CPUs)", cpu_percent);
  s->tree_mem_max = memory_max;
  s->tree_mem_high = memory_high;
  s->tree_pids = pids_max;
  s->tree_cpu_pct = cpu_percent;
  return 0;
}

int ward_spec_require_method(ward_spec *s, const char *method) {
  int rv = s ? ward__check_name(method) : ward__fail(WARD_EINVAL, "NULL spec");
  return rv ? rv : push_str(&s->req_methods, &s->nreq_methods, method);
}

int ward_spec_require_version(ward_spec *s, const char *min, const char *below) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  char *a = min ? strdup(min) : NULL, *b = below ? strdup(below) : NULL;
  if ((min && !a) || (below && !b)) {
    free(a);
    free(b);
    return WARD_ENOMEM;
  }
  free(s->ver_min);
  free(s->ver_below);
  s->ver_min = a;
  s->ver_below = b;
  return 0;
}

int ward_spec_validate_json(ward_spec *s, int on) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  s->validate_json = !!on;
  return 0;
}

int ward_spec_output(ward_spec *s, int mode) {
  if (!s || mode < WARD_OUTPUT_CAPTURE || mode > WARD_OUTPUT_DISCARD)
    return ward__fail(WARD_EINVAL, "unknown output mode %d", mode);
  s->output = mode;
  return 0;
}

int ward_spec_log_ring(ward_spec *s, size_t bytes) {
  if (!s || bytes < 1024)
    return ward__fail(WARD_EINVAL, "a log ring needs at least 1024 bytes");
  s->log_ring = bytes;
  return 0;
}

int ward_spec_log_events(ward_spec *s, int on) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  s->log_events = !!on;
  return 0;
}

int ward_spec_data_root(ward_spec *s, const char *root) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  char *r = root ? strdup(root) : NULL;
  if (root && !r)
    return WARD_ENOMEM;
  free(s->data_root);
  s->data_root = r;
  s->no_data_dir = root == NULL;
  return 0;
}

int ward_spec_keep_data(ward_spec *s, int keep) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  s->keep_data = !!keep;
  return 0;
}

int ward_spec_max_frame(ward_spec *s, uint32_t bytes) {
  if (!s || bytes == 0)
    return ward__fail(WARD_EINVAL, "max frame must be > 0");
  s->max_frame = bytes;
  return 0;
}

int ward_spec_zerocopy(ward_spec *s, uint32_t min_bytes) {
  if (!s || (min_bytes && min_bytes < WARD__ZC_FLOOR))
    return ward__fail(WARD_EINVAL, "the zero-copy threshold is 0 (off) or at least %u bytes",
                      WARD__ZC_FLOOR);
  s->zerocopy_min = min_bytes;
  return 0;
}

int ward_spec_cancel_grace(ward_spec *s, int ms) {
  return set_ms(s, s ? &s->cancel_grace_ms : NULL, ms);
}

int ward_spec_idle_timeout(ward_spec *s, int ms) {
  int rv = set_ms(s, s ? &s->idle_ms : NULL, ms);
  if (!rv)
    s->set |= WARD__SET_IDLE;
  return rv;
}

int ward_spec_stop_signal(ward_spec *s, int sig) {
  if (!s || sig <= 0 || sig >= NSIG)
    return ward__fail(WARD_EINVAL, "not a signal number: %d", sig);
  s->stop_signal = sig;
  return 0;
}

int ward_spec_ready(ward_spec *s, int mode, int arg) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  switch (mode) {
  case WARD_READY_HANDSHAKE:
    arg = 0;
    break;
  case WARD_READY_AFTER:
    if (arg < 0)
      return ward__fail(WARD_EINVAL, "a readiness delay is 0 ms or more");
    break;
  case WARD_READY_NOTIFY:
    if (arg < 3 || arg > 1023)
      return ward__fail(WARD_EINVAL, "a notification descriptor is 3..1023, not %d", arg);
    break;
  default:
    return ward__fail(WARD_EINVAL, "unknown readiness mode %d", mode);
  }
  s->ready_mode = mode;
  s->ready_arg = arg;
  return 0;
}

int ward_spec_supervise_start(ward_spec *s, int on) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  s->supervise_start = !!on;
  return 0;
}

int ward_spec_spares(ward_spec *s, unsigned n) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  if (n > WARD_MAX_SPARES)
    return ward__fail(WARD_EINVAL, "%u spares: at most %d", n, WARD_MAX_SPARES);
  s->spares = n;
  return 0;
}

int ward_spec_wait_restart(ward_spec *s, int on) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  s->wait_restart = !!on;
  return 0;
}

/* Does `kv` ("KEY=..." or "KEY") set or remove `key` of `klen` bytes? */
static int same_key(const char *kv, const char *key, size_t klen) {
  return strncmp(kv, key, klen) == 0 && (kv[klen] == '=' || kv[klen] == 0);
}

static int overridden(const ward_spec *s, const char *entry) {
  const char *eq = strchr(entry, '=');
  size_t klen = eq ? (size_t)(eq - entry) : strlen(entry);
  if (klen >= 5 && strncmp(entry, "WARD_", 5) == 0)
    return 1;
  for (size_t i = 0; i < s->nenv; i++)
    if (same_key(s->env[i], entry, klen))
      return 1;
  return 0;
}

extern char **environ;

int ward__spec_envp(const ward_spec *s, char *const *extra, char ***out) {
  char **v = NULL;
  size_t n = 0;
  int rv = push_str(&v, &n, NULL); /* ensures a terminated array */
  n = 0;
  for (char **e = environ; !rv && e && *e; e++)
    if (!overridden(s, *e))
      rv = push_str(&v, &n, *e);
  for (size_t i = 0; !rv && i < s->nenv; i++) {
    /* A later setting of the same key wins; a bare key removes it. */
    if (!strchr(s->env[i], '='))
      continue;
    const char *eq = strchr(s->env[i], '=');
    int later = 0;
    for (size_t j = i + 1; j < s->nenv; j++)
      if (same_key(s->env[j], s->env[i], (size_t)(eq - s->env[i])))
        later = 1;
    if (!later)
      rv = push_str(&v, &n, s->env[i]);
  }
  for (size_t i = 0; !rv && extra && extra[i]; i++)
    rv = push_str(&v, &n, extra[i]);
  if (rv) {
    ward__strv_free(v);
    return rv;
  }
  *out = v;
  return 0;
}

int ward__spec_argv(const ward_spec *s, char ***out) {
  char **v = NULL;
  size_t n = 0;
  int rv = push_str(&v, &n, s->exe);
  for (size_t i = 0; !rv && i < s->nargs; i++)
    rv = push_str(&v, &n, s->args[i]);
  if (rv) {
    ward__strv_free(v);
    return rv;
  }
  *out = v;
  return 0;
}

void ward__strv_free(char **v) {
  if (!v)
    return;
  for (char **p = v; *p; p++)
    free(*p);
  free(v);
}

ward_spec *ward__spec_dup(const ward_spec *s) {
  ward_spec *d;
  if (ward_spec_new(&d, s->name, s->exe))
    return NULL;
  /* Every plain setting at once; the strings are copied below. */
  char *name = d->name, *exe = d->exe;
  *d = *s;
  d->name = name;
  d->exe = exe;
  d->args = d->env = d->req_methods = NULL;
  d->nargs = d->nenv = d->nreq_methods = 0;
  d->cwd = d->ver_min = d->ver_below = d->data_root = NULL;
  d->sandbox = ward__sandbox_dup(s->sandbox);
  int rv = s->sandbox && !d->sandbox ? WARD_ENOMEM : 0;
  d->groups = NULL;
  if (s->ngroups && !(d->groups = malloc(s->ngroups * sizeof *d->groups)))
    rv = WARD_ENOMEM;
  else if (s->ngroups)
    memcpy(d->groups, s->groups, s->ngroups * sizeof *d->groups);
  if (s->data_root && !(d->data_root = strdup(s->data_root)))
    rv = WARD_ENOMEM;
  for (size_t i = 0; !rv && i < s->nreq_methods; i++)
    rv = push_str(&d->req_methods, &d->nreq_methods, s->req_methods[i]);
  if (!rv)
    rv = ward_spec_require_version(d, s->ver_min, s->ver_below);
  for (size_t i = 0; !rv && i < s->nargs; i++)
    rv = push_str(&d->args, &d->nargs, s->args[i]);
  for (size_t i = 0; !rv && i < s->nenv; i++)
    rv = push_str(&d->env, &d->nenv, s->env[i]);
  if (!rv && s->cwd)
    rv = ward_spec_cwd(d, s->cwd);
  if (rv) {
    ward_spec_free(d);
    return NULL;
  }
  return d;
}
