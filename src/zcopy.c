/*
 * zcopy.c — payloads in shared memory: large request, notification and
 * reply payloads travel as a sealed memfd passed with their frame instead
 * of through the socket (docs/protocol.md 3.5), and a sender may build
 * one in place (ward_payload).
 *
 * Design notes
 * ------------
 * Agreement. A worker that can take such payloads says so in its HELLO
 * (zerocopy=1); a host whose spec allows them answers with its threshold
 * in the WELCOME (zerocopy=N). From then on both sides send payloads of N
 * bytes or more that are in shared memory already (below) so, and read
 * the connection with recvmsg so that the descriptors come in. A peer that never offers (another language's
 * worker) never sees such a frame.
 *
 * The peer's memory is hostile. What arrives is checked before it is
 * mapped (ward__payload_map): a memfd, sealed against writing, shrinking
 * and growing, of exactly the length the frame claims, no larger than
 * this side's max_frame. A descriptor that fails is closed, and only the
 * call it came for fails (the stream is still in step: the frame was
 * whole). A frame that should carry one and does not, a descriptor that
 * no frame claims, or more descriptors than frames, put the stream out of
 * step: the connection is cut off (WARD_EPROTO), as for any malformed
 * frame. Mapped bytes count as the frame's length wherever read frames
 * are counted (pending inbound work, queued events; pending work at
 * WARD__ZC_WEIGHT more each, for the descriptor), so the bounds on
 * what a worker can make the host hold hold for mappings too, and each
 * mapping is at most max_frame bytes and at least WARD__ZC_FLOOR.
 *
 * Sending. Where the data is a payload built in place (ward_payload), or
 * the mapping of one received (a handler replying with its request's
 * data, or passing it on), the sender offers its descriptor on its own
 * thread (tl_offer) and the send path passes that descriptor itself:
 * nothing is copied. Any other payload goes through the socket, whatever
 * its size: copying it into a fresh memfd costs more than the socket's
 * two copies into memory already faulted in (bench_transport: 1.8x the
 * raw socketpair at 64 MiB, 4x at 32 KiB, against 1x), since fresh
 * shared memory is faulted in and zeroed page by page, the writer's
 * mapping torn down to seal it, and its pages freed after. A sender that
 * must not block and cannot write at once sends an ordinary frame
 * instead, copied from the mapping into the out queue: the queue holds
 * bytes, not descriptors.
 *
 * Lifetime. A received mapping (ward__map) is referenced by the frame
 * while it is dispatched, and by the message or item that keeps its data;
 * the last reference unmaps it and closes its descriptor.
 */
#include <stdlib.h>
#include <string.h>

#include "ward_int.h"

struct ward__map {
  atomic_int refs;
  const void *mem;
  size_t len;
  ward__fd fd; /* kept, so that the payload can be passed on as it is */
};

/* A payload built in place. `mem` is writable until sealed, then a
 * read-only view. On a backend without memfd it is plain memory and
 * `fd` is WARD__FD_NONE. */
struct ward_payload {
  void *mem;
  size_t len;
  ward__fd fd;
  int sealed;
};

/* ------------------------------------------------------------------ */
/* Received mappings                                                   */

ward__map *ward__map_ref(ward__map *m) {
  if (m)
    atomic_fetch_add(&m->refs, 1);
  return m;
}

void ward__map_unref(ward__map *m) {
  if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
    return;
  ward__payload_unmap(m->mem, m->len);
  ward__close(m->fd);
  free(m);
}

const void *ward__map_mem(const ward__map *m) { return m->mem; }

/* ------------------------------------------------------------------ */
/* What this thread offers to send without a copy                      */

typedef ward__zc_offer offer;

static _Thread_local offer tl_offer = {WARD__FD_NONE, NULL, 0};

/* Offers `fd` (with `len` bytes readable at `mem`) until the returned
 * previous offer is put back with offer_end. */
static offer offer_begin(ward__fd fd, const void *mem, size_t len) {
  offer prev = tl_offer;
  tl_offer = (offer){fd, mem, len};
  return prev;
}

static void offer_end(offer prev) { tl_offer = prev; }

ward__zc_offer ward__zc_offer_map(const ward__map *m) {
  return m ? offer_begin(m->fd, m->mem, m->len) : tl_offer;
}

void ward__zc_offer_end(ward__zc_offer prev) { offer_end(prev); }

/* ------------------------------------------------------------------ */
/* Sending                                                             */

int ward__zc_kind(uint8_t kind) {
  return kind == WARD__K_REQUEST || kind == WARD__K_NOTIFY || kind == WARD__K_REPLY;
}

ward__fd ward__zc_offered_fd(const void *data, size_t len) {
  return data == tl_offer.mem && len == tl_offer.len ? tl_offer.fd : WARD__FD_NONE;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

/* Closes the descriptors waiting for their frames. */
void ward__zc_drop_fds(ward__conn *c) {
  for (int i = 0; i < c->nfdq; i++)
    ward__close(c->fdq[i]);
  c->nfdq = 0;
}

ptrdiff_t ward__zc_recv(ward__conn *c, void *p, size_t n, int block) {
  ward__fd fds[WARD__FDQ_MAX];
  int nf = 0;
  ptrdiff_t r = ward__sock_recv_fds(c->fd, p, n, block, fds, &nf, WARD__FDQ_MAX);
  int over = nf < 0;
  if (over)
    nf = -1 - nf;
  for (int i = 0; i < nf; i++) {
    if (c->nfdq < WARD__FDQ_MAX)
      c->fdq[c->nfdq++] = fds[i];
    else {
      ward__close(fds[i]);
      over = 1;
    }
  }
  if (over) {
    ward__zc_drop_fds(c);
    return ward__fail(WARD_EPROTO, "peer sent more descriptors than frames that carry them");
  }
  return r;
}

int ward__zc_stray(ward__conn *c) {
  if (!c->nfdq || !ward__dec_idle(&c->dec))
    return 0;
  ward__zc_drop_fds(c);
  return ward__fail(WARD_EPROTO, "peer sent a descriptor without a frame that carries it");
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

int ward__zc_take(ward__conn *c, ward__frame *f, int *call_only) {
  *call_only = 0;
  if (!ward__zc_kind(f->h.kind))
    return ward__fail(WARD_EPROTO, "a frame of kind %u with its payload in shared memory",
                      f->h.kind);
  if (f->h.len != 8)
    return ward__fail(WARD_EPROTO, "a frame with its payload in shared memory whose length "
                      "is %u, not 8", f->h.len);
  if (!c->nfdq)
    return ward__fail(WARD_EPROTO, "a frame of call %u came without the descriptor of its "
                      "payload", f->h.id);
  ward__fd fd = c->fdq[0];
  memmove(c->fdq, c->fdq + 1, (size_t)(--c->nfdq) * sizeof *c->fdq);
  uint64_t len = get64(f->payload);
  int rv;
  const void *mem = NULL;
  *call_only = 1;
  if (len > c->max_in)
    rv = ward__fail(WARD_ETOOBIG, "a payload of %llu bytes in shared memory, over the %u-byte "
                    "limit", (unsigned long long)len, c->max_in);
  else if (len < WARD__ZC_FLOOR)
    rv = ward__fail(WARD_EPROTO, "a payload of %llu bytes in shared memory, under the %u-byte "
                    "floor", (unsigned long long)len, WARD__ZC_FLOOR);
  else
    rv = ward__payload_map(fd, (size_t)len, &mem);
  ward__map *m = rv ? NULL : malloc(sizeof *m);
  if (!rv && !m) {
    ward__payload_unmap(mem, (size_t)len);
    rv = WARD_ENOMEM;
    *call_only = 0;
  }
  if (rv) {
    ward__close(fd);
    return rv;
  }
  atomic_init(&m->refs, 1);
  m->mem = mem;
  m->len = (size_t)len;
  m->fd = fd;
  f->map = m;
  f->payload = mem;
  f->h.len = (uint32_t)len;
  f->h.flags &= (uint8_t)~WARD__FLAG_SHM;
  return 0;
}

/* ------------------------------------------------------------------ */
/* The handshake                                                       */

void ward__zc_offered(ward__conn *c) {
  atomic_store(&c->zc_accept, 1);
}

void ward__zc_agreed(ward__conn *c, uint32_t min) {
  atomic_store(&c->zc_accept, 1);
  atomic_store(&c->zc_min, min);
}

/* ------------------------------------------------------------------ */
/* Payloads built in place                                             */

int ward_payload_new(ward_payload **out, size_t len) {
  if (out)
    *out = NULL;
  if (!out || len == 0)
    return ward__fail(WARD_EINVAL, "a payload needs a place to go and at least one byte");
  if (len > UINT32_MAX)
    return ward__fail(WARD_ETOOBIG, "a payload of %zu bytes, over any frame's limit", len);
  ward_payload *p = calloc(1, sizeof *p);
  if (!p)
    return WARD_ENOMEM;
  p->len = len;
  p->fd = WARD__FD_NONE;
  int rv = 0;
  /* Under a page it never travels in shared memory (WARD__ZC_FLOOR). */
  if (ward__shm_supported() && len >= WARD__ZC_FLOOR)
    rv = ward__payload_mem(len, &p->fd, &p->mem);
  else if (!(p->mem = malloc(len)))
    rv = WARD_ENOMEM;
  if (rv) {
    free(p);
    return rv;
  }
  *out = p;
  return 0;
}

void *ward_payload_data(ward_payload *p) { return p && !p->sealed ? p->mem : NULL; }

size_t ward_payload_len(const ward_payload *p) { return p ? p->len : 0; }

void ward_payload_free(ward_payload *p) {
  if (!p)
    return;
  if (ward__fd_valid(p->fd)) {
    ward__payload_unmap(p->mem, p->len);
    ward__close(p->fd);
  } else {
    free(p->mem);
  }
  free(p);
}

/* Makes the payload read-only for good (its memory, if any, sealed), so
 * that what the peer maps can change no more. */
static int payload_seal(ward_payload *p) {
  if (p->sealed || !ward__fd_valid(p->fd)) {
    p->sealed = 1;
    return 0;
  }
  p->sealed = 1;
  return ward__payload_seal(p->fd, p->len, &p->mem);
}

/* Seals `p` and runs a send of its bytes with its descriptor offered. */
#define WITH_PAYLOAD(p, rv, send)                                  \
  do {                                                             \
    if (!(p)) {                                                    \
      (rv) = ward__fail(WARD_EINVAL, "NULL payload");              \
      break;                                                       \
    }                                                              \
    (rv) = payload_seal(p);                                        \
    if ((rv) == 0) {                                               \
      offer prev_ = offer_begin((p)->fd, (p)->mem, (p)->len);      \
      (rv) = (send);                                               \
      offer_end(prev_);                                            \
    }                                                              \
    ward_payload_free(p);                                          \
  } while (0)

int ward_request_payload(ward_msg **reply, ward_worker *w, const char *method, ward_payload *p,
                         const ward_call_opts *opts) {
  int rv;
  if (reply)
    *reply = NULL;
  WITH_PAYLOAD(p, rv, ward_request_ex(reply, w, method, p->mem, p->len, opts));
  return rv;
}

int ward_client_request_payload(ward_msg **reply, ward_client *c, const char *method,
                                ward_payload *p, int timeout_ms) {
  int rv;
  if (reply)
    *reply = NULL;
  WITH_PAYLOAD(p, rv, ward_client_request(reply, c, method, p->mem, p->len, timeout_ms));
  return rv;
}

int ward_ctx_reply_payload(ward_ctx *ctx, ward_payload *p) {
  int rv;
  WITH_PAYLOAD(p, rv, ward_ctx_reply(ctx, p->mem, p->len));
  return rv;
}
