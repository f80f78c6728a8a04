/*
 * ctx.c — serving one incoming call, on either side: reply, fail,
 * progress, rows, diagnostics, cancellation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "worker.h"

static int ctx_send(ward_ctx *ctx, uint8_t kind, const char *name, uint32_t aux,
                    const void *p1, size_t n1, const void *p2, size_t n2) {
  ward__conn *c = ctx->conn;
  if (n1 + n2 > c->max_out)
    return ward__fail(WARD_ETOOBIG, "%zu bytes over the peer's %u-byte limit", n1 + n2,
                      c->max_out);
  size_t nlen = name ? strlen(name) : 0;
  ward__hdr h = {.kind = kind,
                 .flags = (uint8_t)(ctx->enc & WARD__FLAG_ENC_MASK),
                 .nlen = (uint8_t)nlen,
                 .len = (uint32_t)(n1 + n2),
                 .id = ctx->id,
                 .aux = aux};
  /* A deferred call may be ended from the loop's thread too, which never
   * blocks on a worker. */
  int block = ctx->deferred ? !ward__on_io_thread(ctx->host) : ctx->block;
  return ward__conn_send(c, &h, name, p1, n1, p2, n2, block,
                         ward__deadline(c->default_timeout_ms));
}

static void free_seqs(ward_ctx *ctx) {
  for (size_t i = 0; i < ctx->nseqs; i++)
    free(ctx->seqs[i].stream);
  free(ctx->seqs);
  ctx->seqs = NULL;
  ctx->nseqs = 0;
}

/* A deferred call has ended: its copy goes. */
static void ended(ward_ctx *ctx) {
  if (!ctx->deferred)
    return;
  if (ctx->on_end)
    ctx->on_end(ctx->end_ud);
  free_seqs(ctx);
  ward__conn_unref(ctx->conn);
  free(ctx->own_method);
  free(ctx);
}

ward_ctx *ward_ctx_defer(ward_ctx *ctx) {
  if (!ctx || ctx->deferred || (!ctx->worker && !ctx->host) || ctx->ended ||
      ctx->kind != WARD__K_REQUEST) {
    ward__fail(WARD_EINVAL, "only a host handler's request can be deferred, once");
    return NULL;
  }
  ward_ctx *d = malloc(sizeof *d);
  char *m = strdup(ctx->method);
  if (!d || !m) {
    free(d);
    free(m);
    ward__fail(WARD_ENOMEM, "deferring '%s'", ctx->method);
    return NULL;
  }
  *d = *ctx;
  d->deferred = 1;
  d->host = ctx->worker ? ctx->worker->host : ctx->host;
  d->own_method = m;
  d->method = m;
  atomic_init(&d->own_cancel, 0);
  d->cancelled = &d->own_cancel;
  ward__conn_ref(d->conn);
  /* The handler's ctx is done with: its rows' numbering moved over. */
  ctx->seqs = NULL;
  ctx->nseqs = 0;
  ctx->ended = 1;
  ctx->handed_off = 1;
  return d;
}

/* Checks a call may still send; notifications send nothing. */
static int open_call(const ward_ctx *ctx, int *skip) {
  *skip = 0;
  if (!ctx)
    return ward__fail(WARD_EINVAL, "NULL ctx");
  if (ctx->ended)
    return ward__fail(WARD_EINVAL, "call to '%s' already ended", ctx->method);
  if (ctx->kind == WARD__K_NOTIFY)
    *skip = 1;
  return 0;
}

/* open_call for a row: also a valid stream name. */
static int open_stream(const ward_ctx *ctx, const char *stream, int *skip) {
  int rv = open_call(ctx, skip);
  return rv || *skip ? rv : ward__check_name(stream);
}

int ward_ctx_fail_data(ward_ctx *ctx, int code, const char *message, const void *data,
                       size_t len) {
  int skip, rv = open_call(ctx, &skip);
  if (rv)
    return rv;
  ctx->ended = 1;
  if (skip)
    return 0;
  size_t mlen = message ? strlen(message) : 0;
  if (mlen > 65536)
    mlen = 65536;
  /* The call must end whatever the sizes: drop the data, then shorten the
   * message, rather than send nothing. */
  if (!data || ward__err_size(mlen, len) > ctx->conn->max_out)
    len = 0;
  if (ward__err_size(mlen, 0) > ctx->conn->max_out)
    mlen = ctx->conn->max_out > 4 ? ctx->conn->max_out - 4 : 0;
  uint8_t *p = malloc(ward__err_size(mlen, 0));
  rv = p ? 0 : WARD_ENOMEM;
  if (p) {
    ward__err_put(p, message, mlen, NULL, 0);
    rv = ctx_send(ctx, WARD__K_ERROR, NULL, (uint32_t)code, p, 4 + mlen, data, len);
  }
  free(p);
  ended(ctx);
  return rv;
}

int ward_ctx_fail(ward_ctx *ctx, int code, const char *message) {
  return ward_ctx_fail_data(ctx, code, message, NULL, 0);
}

int ward_ctx_reply(ward_ctx *ctx, const void *data, size_t len) {
  int skip, rv = open_call(ctx, &skip);
  if (rv)
    return rv;
  if (!data && len)
    return ward__fail(WARD_EINVAL, "NULL reply data");
  if (skip) {
    ctx->ended = 1;
    return 0;
  }
  rv = ctx_send(ctx, WARD__K_REPLY, NULL, 0, data, len, NULL, 0);
  if (rv == WARD_ETOOBIG) {
    /* The call must still end: the caller learns why. */
    int err = rv;
    ward_ctx_fail(ctx, WARD_ETOOBIG, "reply over the size limit");
    return err;
  }
  ctx->ended = 1;
  ended(ctx);
  return rv;
}

static void boundary(ward_ctx *ctx) {
  if (ctx->boundary)
    ctx->boundary(ctx);
}

/* Before a row or progress report: stop if the caller cancelled, and wait
 * while the caller's flow-control window is full. */
static int before_stream(ward_ctx *ctx, size_t len) {
  if (atomic_load(ctx->cancelled))
    return ward__fail(WARD_ECANCELED, "the caller cancelled '%s'", ctx->method);
  if (ctx->window && ctx->wait_credit) {
    int rv = ctx->wait_credit(ctx, len);
    if (rv)
      return rv == WARD_ECANCELED
                 ? ward__fail(rv, "the caller cancelled '%s'", ctx->method)
                 : rv;
  }
  return 0;
}

int ward_ctx_progress(ward_ctx *ctx, const void *data, size_t len) {
  int skip, rv = open_call(ctx, &skip);
  if (rv || skip)
    return rv;
  size_t n = data ? len : 0;
  /* The window counts whole frames, so even empty ones are paced. */
  size_t frame = ward__frame_size(0, n);
  rv = before_stream(ctx, frame);
  if (rv)
    return rv;
  rv = ctx_send(ctx, WARD__K_PROGRESS, NULL, 0, data, n, NULL, 0);
  ctx->sent += frame;
  boundary(ctx);
  return rv;
}

/* The stream's sequence counter (the last number sent), made at 0 on its
 * first row; NULL without memory. Valid until another stream is added. */
static ward__rowseq *seq_of(ward_ctx *ctx, const char *stream) {
  for (size_t i = 0; i < ctx->nseqs; i++)
    if (strcmp(ctx->seqs[i].stream, stream) == 0)
      return &ctx->seqs[i];
  ward__rowseq *v = realloc(ctx->seqs, (ctx->nseqs + 1) * sizeof *v);
  if (!v)
    return NULL;
  ctx->seqs = v;
  v[ctx->nseqs].stream = strdup(stream);
  if (!v[ctx->nseqs].stream)
    return NULL;
  v[ctx->nseqs].seq = 0;
  return &v[ctx->nseqs++];
}

static uint32_t next_seq(ward_ctx *ctx, const char *stream) {
  ward__rowseq *q = seq_of(ctx, stream);
  return q ? ++q->seq : 0;
}

int ward_ctx_row(ward_ctx *ctx, const char *stream, const void *data, size_t len) {
  int skip, rv = open_stream(ctx, stream, &skip);
  if (rv || skip)
    return rv;
  size_t n = data ? len : 0;
  size_t frame = ward__frame_size(strlen(stream), n);
  rv = before_stream(ctx, frame);
  if (rv)
    return rv;
  uint32_t seq = next_seq(ctx, stream);
  if (!seq)
    return WARD_ENOMEM;
  rv = ctx_send(ctx, WARD__K_ROW, stream, seq, data, n, NULL, 0);
  ctx->sent += frame;
  boundary(ctx);
  return rv;
}

/* Encodes rows into `buf` until it is full or the window would stop the
 * next one; returns how many. */
static size_t pack_rows(ward_ctx *ctx, const char *stream, const ward_row *rows, size_t n,
                        uint8_t *buf, size_t cap, size_t *len) {
  size_t nlen = strlen(stream), k = 0;
  uint64_t half = ctx->window / 2;
  /* Looked up once for the batch, not once a row. */
  ward__rowseq *seq = seq_of(ctx, stream);
  if (!seq)
    return 0;
  /* Credit only grows: what it is now is a safe figure for the batch. */
  uint64_t acked = ctx->window ? ward__conn_acked(ctx->conn) : 0;
  /* The header's first twelve bytes are the same for every row but its
   * length: made once, then each row costs its length, its number and
   * its copies. */
  ward__hdr h = {.kind = WARD__K_ROW,
                 .flags = (uint8_t)(ctx->enc & WARD__FLAG_ENC_MASK),
                 .nlen = (uint8_t)nlen,
                 .id = ctx->id};
  uint8_t head[WARD__HDR_SIZE];
  ward__hdr_put(head, &h);
  uint32_t next = seq->seq;
  uint64_t sent = ctx->sent;
  size_t at = 0;
  for (; k < n; k++) {
    size_t rlen = rows[k].data ? rows[k].len : 0;
    size_t frame = WARD__HDR_SIZE + nlen + rlen;
    uint64_t out = sent - acked;
    if (at + frame > cap)
      break;
    if (ctx->window && k > 0 && out > half && out + frame > ctx->window)
      break;
    uint8_t *o = buf + at;
    memcpy(o, head, WARD__HDR_SIZE);
    ward__put32(o + 4, (uint32_t)rlen);
    ward__put32(o + 12, ++next);
    for (size_t i = 0; i < nlen; i++)
      o[WARD__HDR_SIZE + i] = (uint8_t)stream[i];
    ward__copy_small(o + WARD__HDR_SIZE + nlen, rows[k].data, rlen);
    at += frame;
    sent += frame;
  }
  seq->seq = next;
  ctx->sent = sent;
  *len = at;
  return k;
}

int ward_ctx_rows(ward_ctx *ctx, const char *stream, const ward_row *rows, size_t n) {
  int skip, rv = open_stream(ctx, stream, &skip);
  if (rv || skip)
    return rv;
  if (n && !rows)
    return ward__fail(WARD_EINVAL, "NULL rows");
  /* Every row is checked before any is sent, so a bad one costs nothing. */
  for (size_t k = 0; k < n; k++)
    if (rows[k].data && rows[k].len > ctx->conn->max_out)
      return ward__fail(WARD_ETOOBIG, "row %zu is %zu bytes, over the caller's %u-byte limit",
                        k, rows[k].len, ctx->conn->max_out);
  enum { BATCH = 64 * 1024 };
  uint8_t *buf = NULL;
  size_t done = 0;
  while (!rv && done < n) {
    size_t rlen = rows[done].data ? rows[done].len : 0;
    size_t first = ward__frame_size(strlen(stream), rlen);
    /* A big row goes alone, through the ordinary path. */
    if (first > BATCH / 2) {
      rv = ward_ctx_row(ctx, stream, rows[done].data, rlen);
      done++;
      continue;
    }
    rv = before_stream(ctx, first);
    if (rv)
      break;
    if (!buf && !(buf = malloc(BATCH))) {
      rv = WARD_ENOMEM;
      break;
    }
    size_t len;
    size_t k = pack_rows(ctx, stream, rows + done, n - done, buf, BATCH, &len);
    if (!k) {
      rv = WARD_ENOMEM;
      break;
    }
    /* The clock is read only if the socket makes the batch wait. */
    rv = ward__conn_send_frames(ctx->conn, buf, len, ctx->block,
                                ward__deadline_later(ctx->conn->default_timeout_ms));
    done += k;
    boundary(ctx);
  }
  free(buf);
  return rv;
}

int ward_ctx_diag(ward_ctx *ctx, int level, const char *code, const char *message) {
  int skip, rv = open_call(ctx, &skip);
  if (rv || skip)
    return rv;
  if (level < 0 || level > 3)
    return ward__fail(WARD_EINVAL, "diagnostic level %d not in 0..3", level);
  if (code && strlen(code) > WARD_MAX_NAME)
    return ward__fail(WARD_EINVAL, "diagnostic code too long");
  const char *m = message ? message : "";
  /* Diagnostics are text for people: always tagged raw. */
  int enc = ctx->enc;
  ctx->enc = WARD_ENC_RAW;
  int rv2 = ctx_send(ctx, WARD__K_DIAG, code && *code ? code : NULL, (uint32_t)level, m,
                     strlen(m), NULL, 0);
  ctx->enc = enc;
  return rv2;
}

int ward_ctx_watch(ward_ctx *ctx) {
  if (!ctx || !ctx->deferred || ctx->ended)
    return ward__fail(WARD_EINVAL, "only a deferred call can be a watch");
  ctx->watched = 1;
  if (ctx->watch)
    atomic_store(ctx->watch, 1);
  return 0;
}

int ward_ctx_cancelled(const ward_ctx *ctx) {
  if (!ctx)
    return 0;
  /* A watch whose connection the server closed to make room (or whose
   * client went) waits for nothing any more. */
  if (ctx->watched && ward__conn_is_closed(ctx->conn))
    return 1;
  /* A handler polling for cancellation is at a boundary: let the client
   * look at its socket. The ctx is the handler's own, hence the cast. */
  boundary((ward_ctx *)ctx);
  return atomic_load(ctx->cancelled);
}

int ward_ctx_encoding(const ward_ctx *ctx) { return ctx ? ctx->req_enc : WARD_ENC_RAW; }

int ward_ctx_set_encoding(ward_ctx *ctx, int encoding) {
  if (!ctx || encoding < WARD_ENC_RAW || encoding > WARD_ENC_MSGPACK)
    return ward__fail(WARD_EINVAL, "unknown encoding %d", encoding);
  ctx->enc = encoding;
  return 0;
}

const char *ward_ctx_method(const ward_ctx *ctx) { return ctx ? ctx->method : NULL; }
int ward_ctx_is_notify(const ward_ctx *ctx) { return ctx && ctx->kind == WARD__K_NOTIFY; }
ward_worker *ward_ctx_worker(const ward_ctx *ctx) { return ctx ? ctx->worker : NULL; }

void ward__serve(ward_ctx *ctx, const ward__item *it, ward_handler fn, void *ud) {
  ctx->id = it->h.id;
  ctx->kind = it->h.kind;
  ctx->window = it->h.kind == WARD__K_REQUEST ? it->h.aux : 0;
  ctx->sent = 0;
  ctx->req_enc = ctx->enc = it->h.flags & WARD__FLAG_ENC_MASK;
  ctx->method = it->name;
  ctx->ended = 0;
  atomic_init(&ctx->own_cancel, 0);
  /* A serving loop that tracks the request (the client's) passes the
   * connection's flag; others (host handlers) keep their own. */
  if (!ctx->cancelled)
    ctx->cancelled = &ctx->own_cancel;
  if (it->cancelled) {
    ward_ctx_fail(ctx, WARD_ECANCELED, "cancelled before it started");
    return;
  }
  /* A payload in shared memory that the handler sends on as it came (a
   * reply, a request of its own) is passed on, not copied. */
  ward__zc_offer prev = ward__zc_offer_map(it->map);
  int rv = fn(ctx, it->data, it->h.len, ud);
  ward__zc_offer_end(prev);
  if (!ctx->ended) {
    if (rv == 0)
      ward_ctx_fail(ctx, -1, "handler returned without replying");
    else
      ward_ctx_fail(ctx, rv, "handler failed");
  }
  free_seqs(ctx);
}

void ward__serve_refuse(ward__conn *c, const ward__item *it, int block, int code,
                        const char *msg) {
  if (it->h.kind != WARD__K_REQUEST)
    return; /* notifications get no answer */
  ward_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.conn = c;
  ctx.block = block;
  ctx.id = it->h.id;
  ctx.kind = WARD__K_REQUEST;
  ctx.method = it->name;
  ward_ctx_fail(&ctx, code, msg);
}

void ward__serve_nomethod(ward__conn *c, const ward__item *it, int block) {
  char msg[WARD_MAX_NAME + 32];
  snprintf(msg, sizeof msg, "no method '%s'", it->name);
  ward__serve_refuse(c, it, block, WARD_ENOMETHOD, msg);
}
