/*
 * handshake.c — the host's side of a worker's handshake: a HELLO is
 * checked against the spec (token, protocol version, what the spec
 * requires of the worker), its methods and metadata are adopted, and the
 * worker is welcomed or refused with a GOODBYE that says why.
 *
 * Owns: what a worker announced (ward_worker's methods and metadata).
 * May not decide what becomes of the worker: a refusal or a handshake done
 * is posted to its state machine (supervise.c, lifecycle.c). Lock: the
 * host mutex where it says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hello.h"
#include "link.h"
#include "worker.h"

void ward__meta_free(ward__meta *m, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(m[i].key);
    free(m[i].value);
  }
  free(m);
}

/* Constant-time comparison, so the token cannot be guessed byte by byte. */
static int token_ok(const ward_worker *w, const ward__hello *hl) {
  size_t n = strlen(w->token);
  if (!hl->token || hl->token_len != n)
    return 0;
  unsigned char diff = 0;
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char)(hl->token[i] ^ w->token[i]);
  return diff == 0;
}

static void send_goodbye(ward__conn *c, uint32_t reason, const char *text, int block,
                         int64_t deadline) {
  ward__hdr h = {.kind = WARD__K_GOODBYE, .len = (uint32_t)strlen(text), .aux = reason};
  ward__conn_send(c, &h, NULL, text, h.len, NULL, 0, block, deadline);
}

/* Refuses the handshake: the worker is told why and killed. */
static int refuse(ward_worker *w, ward__conn *c, uint32_t reason, const char *text) {
  send_goodbye(c, reason, text, 0, 0);
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  ward__lev ev = {.type = WARD__LE_REFUSED, .text = text};
  ward__worker_post(w, &ev, NULL);
  pthread_mutex_unlock(&h->mu);
  return 0;
}

static int same_hello(const ward_worker *w, const ward__hello *hl) {
  if (w->nmethods != hl->nmethods || w->nmeta != hl->nmeta)
    return 0;
  for (size_t i = 0; i < hl->nmethods; i++)
    if (strcmp(w->methods[i], hl->methods[i]) != 0)
      return 0;
  for (size_t i = 0; i < hl->nmeta; i++)
    if (strcmp(w->meta[i].key, hl->meta[i].key) || strcmp(w->meta[i].value, hl->meta[i].value))
      return 0;
  return 1;
}

static void retire(ward_worker *w, void *p) {
  void **v = realloc(w->retired, (w->nretired + 1) * sizeof *v);
  if (!v) {
    free(p); /* out of memory: a pointer handed out may dangle */
    return;
  }
  w->retired = v;
  v[w->nretired++] = p;
}

/* Takes the new handshake's methods and metadata (lock held). Strings
 * handed out by ward_worker_meta stay valid: an unchanged set is kept,
 * a changed one is retired until the worker is freed. */
static void adopt_hello(ward_worker *w, ward__hello *hl) {
  if (w->life.generation > 1 && same_hello(w, hl)) {
    ward__hello_free(hl);
    return;
  }
  if (w->methods) {
    for (size_t i = 0; i < w->nmethods; i++)
      retire(w, w->methods[i]);
    retire(w, w->methods);
  }
  for (size_t i = 0; i < w->nmeta; i++) {
    retire(w, w->meta[i].key);
    retire(w, w->meta[i].value);
  }
  if (w->meta)
    retire(w, w->meta);
  w->methods = hl->methods;
  w->nmethods = hl->nmethods;
  w->meta = hl->meta;
  w->nmeta = hl->nmeta;
}

void ward__worker_take_hello(ward_worker *to, ward_worker *from) {
  ward__hello hl = {.methods = from->methods, .nmethods = from->nmethods, .meta = from->meta,
                    .nmeta = from->nmeta};
  from->methods = NULL;
  from->meta = NULL;
  from->nmethods = from->nmeta = 0;
  adopt_hello(to, &hl);
}

/* Compares dotted version numbers part by part: <0, 0, >0. */
static int version_cmp(const char *a, const char *b) {
  while (*a || *b) {
    char *ea, *eb;
    unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);
    if (x != y)
      return x < y ? -1 : 1;
    a = *ea == '.' ? ea + 1 : ea + strlen(ea);
    b = *eb == '.' ? eb + 1 : eb + strlen(eb);
  }
  return 0;
}

/* Whether the worker's frames go through shared memory: its spec's
 * choice, or for AUTO the environment's (WARD_FRAMES=socket turns it off,
 * for a test suite run on the socket), when the worker offers it. */
static int wants_shm(const ward_spec *s, const ward__hello *hl) {
  if (!hl->shm || !ward__shm_supported() || s->frames == WARD_FRAMES_SOCKET)
    return 0;
  const char *env = getenv("WARD_FRAMES");
  return s->frames == WARD_FRAMES_SHM || !env || strcmp(env, "socket") != 0;
}

/* Sends the WELCOME, with the rings' memory when they are wanted, or
 * else with the zero-copy threshold when both sides want that: 0, 1 when
 * the spec requires the memory and it could not be made (the worker is
 * refused), or the error that closed the connection. */
static int welcome(ward_worker *w, ward__conn *c, const ward__hello *hl, ward__hdr *wh,
                   const char *body, int n) {
  if (wants_shm(w->spec, hl)) {
    char lb[256];
    int ln = snprintf(lb, sizeof lb, "%sshm=%u\n", body, WARD__LINK_CAP);
    wh->len = (uint32_t)ln;
    int rv = ward__conn_welcome_link(c, wh, lb, (size_t)ln, WARD__LINK_CAP);
    if (rv != 1 || w->spec->frames == WARD_FRAMES_SHM)
      return rv;
  }
  /* Payloads in shared memory: both sides must want them (zcopy.c), and
   * they travel only with frames on the socket (protocol.md 17.5). This
   * side reads descriptors from before the worker can send one. */
  char zb[256];
  uint32_t zmin = w->spec->zerocopy_min;
  if (hl->zerocopy && zmin && ward__shm_supported()) {
    n = snprintf(zb, sizeof zb, "%szerocopy=%u\n", body, zmin);
    body = zb;
    ward__zc_agreed(c, zmin);
  }
  wh->len = (uint32_t)n;
  ward__conn_send(c, wh, NULL, body, (size_t)n, NULL, 0, 0, 0);
  return 0;
}

/* Checks what the spec requires of the handshake; says why not in `why`. */
static int meets_requirements(const ward_spec *s, const ward__hello *hl, char *why, size_t cap) {
  for (size_t i = 0; i < s->nreq_methods; i++) {
    int found = 0;
    for (size_t j = 0; j < hl->nmethods && !found; j++)
      found = strcmp(hl->methods[j], s->req_methods[i]) == 0;
    if (!found) {
      snprintf(why, cap, "does not serve the required method '%s'", s->req_methods[i]);
      return 0;
    }
  }
  if (!s->ver_min && !s->ver_below)
    return 1;
  const char *v = NULL;
  for (size_t j = 0; j < hl->nmeta && !v; j++)
    if (strcmp(hl->meta[j].key, "version") == 0)
      v = hl->meta[j].value;
  if (!v) {
    snprintf(why, cap, "announces no version (required: %s..%s)", s->ver_min ? s->ver_min : "",
             s->ver_below ? s->ver_below : "");
    return 0;
  }
  if ((s->ver_min && version_cmp(v, s->ver_min) < 0) ||
      (s->ver_below && version_cmp(v, s->ver_below) >= 0)) {
    snprintf(why, cap, "version %.32s is not in [%s, %s)", v, s->ver_min ? s->ver_min : "",
             s->ver_below ? s->ver_below : "");
    return 0;
  }
  return 1;
}

int ward__worker_hello(ward_worker *w, ward__conn *c, const ward__frame *f) {
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  int fresh = w->life.state == WARD__L_STARTING && w->conn == c && !w->spawn_err && !w->life.reason;
  int doomed = w->life.state == WARD__L_STARTING && w->conn == c && !fresh;
  pthread_mutex_unlock(&h->mu);
  if (doomed)
    return 0; /* refused or timed out already: it is being killed */
  if (!fresh)
    return ward__fail(WARD_EPROTO, "worker '%s' sent a second HELLO", w->spec->name);
  if (f->h.aux < 1)
    return refuse(w, c, WARD__BYE_VERSION, "no common protocol version");
  ward__hello hl;
  int rv = ward__hello_parse(&hl, f->payload, f->h.len);
  if (rv) {
    ward__hello_free(&hl);
    return refuse(w, c, WARD__BYE_PROTO, "malformed HELLO");
  }
  if (w->spec->transport == WARD_TRANSPORT_SOCKET && !token_ok(w, &hl)) {
    ward__hello_free(&hl);
    return refuse(w, c, WARD__BYE_AUTH, "bad or missing token");
  }
  char why[WARD_MAX_NAME + 96];
  if (!meets_requirements(w->spec, &hl, why, sizeof why)) {
    ward__hello_free(&hl);
    return refuse(w, c, WARD__BYE_PROTO, why);
  }
  if (w->spec->frames == WARD_FRAMES_SHM && !hl.shm) {
    ward__hello_free(&hl);
    return refuse(w, c, WARD__BYE_PROTO, "does not offer the shared-memory transport its spec "
                                         "requires");
  }
  pthread_mutex_lock(&c->mu);
  c->max_out = hl.max_frame;
  pthread_mutex_unlock(&c->mu);

  char body[192];
  /* log=1: this host takes LOG frames (docs/protocol.md 8.4). */
  int n = snprintf(body, sizeof body,
                   "max_frame=%u\npid=%d\nworker_id=%llu\ngeneration=%u\nlog=1\n",
                   h->opts.max_frame, ward__self_pid(), (unsigned long long)w->id,
                   w->life.generation);
  uint32_t version = f->h.aux < WARD_PROTOCOL_VERSION ? f->h.aux : WARD_PROTOCOL_VERSION;
  ward__hdr wh = {.kind = WARD__K_WELCOME, .len = (uint32_t)n, .aux = version};
  rv = welcome(w, c, &hl, &wh, body, n);
  if (rv) {
    ward__hello_free(&hl);
    return rv == 1 ? refuse(w, c, WARD__BYE_PROTO, "no shared memory for its frames") : 0;
  }

  pthread_mutex_lock(&h->mu);
  adopt_hello(w, &hl);
  ward__lev ev = {.type = WARD__LE_READY};
  ward__worker_post(w, &ev, NULL);
  pthread_mutex_unlock(&h->mu);
  return 0;
}
