/*
 * proto.c — the wire codec (see proto.h and docs/protocol.md).
 *
 * Design notes: the decoder never trusts a length before it has checked it
 * against the receiver's maximum, so the only allocation a peer can cause
 * is one body buffer of at most nlen + max_len bytes. Errors are sticky:
 * after a bad header the stream position is unknown, and resynchronising
 * on a guessed boundary would let garbage through as frames.
 */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

#include "ward.h"

void ward__hdr_put(uint8_t out[WARD__HDR_SIZE], const ward__hdr *h) {
  out[0] = WARD__MAGIC;
  out[1] = h->kind;
  out[2] = h->flags;
  out[3] = h->nlen;
  ward__put32(out + 4, h->len);
  ward__put32(out + 8, h->id);
  ward__put32(out + 12, h->aux);
}

int ward__hdr_get(ward__hdr *h, const uint8_t in[WARD__HDR_SIZE], uint32_t max_len) {
  if (in[0] != WARD__MAGIC)
    return WARD_EPROTO;
  h->kind = in[1];
  h->flags = in[2];
  h->nlen = in[3];
  h->len = ward__get32(in + 4);
  h->id = ward__get32(in + 8);
  h->aux = ward__get32(in + 12);
  if (h->kind == 0 || h->kind > WARD__K_MAX)
    return WARD_EPROTO;
  if ((h->flags & ~WARD__FLAG_ENC_MASK) != 0 || (h->flags & WARD__FLAG_ENC_MASK) == 3)
    return WARD_EPROTO;
  if (h->len > max_len)
    return WARD_ETOOBIG;
  return 0;
}

void ward__dec_init(ward__dec *d, uint32_t max_len) {
  memset(d, 0, sizeof *d);
  d->max_len = max_len;
}

void ward__dec_free(ward__dec *d) {
  ward__body_free(d->body);
  d->body = NULL;
}

static size_t body_size(const ward__hdr *h) { return (size_t)h->nlen + h->len; }

static void frame_at(ward__frame *f, const ward__hdr *h, const uint8_t *body) {
  f->h = *h;
  f->name = (const char *)body;
  f->payload = body + h->nlen;
  f->map = NULL;
}

/* Finishes the header once its 16 bytes are in hbuf. */
static int dec_header(ward__dec *d) {
  /* The one flag bit beyond the encoding, where it was agreed to. */
  uint8_t shm = d->shm_ok ? d->hbuf[2] & WARD__FLAG_SHM : 0;
  d->hbuf[2] &= (uint8_t)~shm;
  int rv = ward__hdr_get(&d->h, d->hbuf, d->max_len);
  d->h.flags |= shm;
  if (rv)
    d->err = rv;
  return rv;
}

int ward__dec_feed(ward__dec *d, const uint8_t *p, size_t n, size_t *used, ward__frame *f) {
  size_t off = 0;
  *used = 0;
  if (d->err)
    return d->err;
  /* A frame returned from the body buffer last time is over now. */
  if (d->ready) {
    ward__body_free(d->body);
    d->body = NULL;
    d->hgot = 0;
    d->bgot = 0;
    d->ready = 0;
  }
  /* Nothing to add: only a body just completed in place can finish. */
  if (n == 0 && !(d->hgot == WARD__HDR_SIZE && d->body && d->bgot == body_size(&d->h)))
    return 0;
  if (d->hgot < WARD__HDR_SIZE) {
    /* Fast path: a whole frame inside the input, nothing buffered. */
    if (d->hgot == 0 && n >= WARD__HDR_SIZE) {
      memcpy(d->hbuf, p, WARD__HDR_SIZE);
      if (dec_header(d))
        return d->err;
      size_t bs = body_size(&d->h);
      if (n - WARD__HDR_SIZE >= bs) {
        frame_at(f, &d->h, p + WARD__HDR_SIZE);
        *used = WARD__HDR_SIZE + bs;
        return 1;
      }
      d->hgot = WARD__HDR_SIZE;
      off = WARD__HDR_SIZE;
    } else {
      size_t take = WARD__HDR_SIZE - d->hgot;
      if (take > n)
        take = n;
      memcpy(d->hbuf + d->hgot, p, take);
      d->hgot += take;
      off = take;
      if (d->hgot < WARD__HDR_SIZE) {
        *used = off;
        return 0;
      }
      if (dec_header(d))
        return d->err;
    }
  }
  size_t bs = body_size(&d->h);
  if (!d->body) {
    d->body = ward__body_alloc(bs);
    if (!d->body) {
      d->err = WARD_ENOMEM;
      return d->err;
    }
    d->bgot = 0;
  }
  size_t take = bs - d->bgot;
  if (take > n - off)
    take = n - off;
  if (take)
    memcpy(d->body + d->bgot, p + off, take);
  d->bgot += take;
  off += take;
  *used = off;
  if (d->bgot < bs)
    return 0;
  frame_at(f, &d->h, d->body);
  d->ready = 1;
  return 1;
}

uint8_t *ward__dec_body_space(ward__dec *d, size_t *missing) {
  if (d->err || d->ready || d->hgot < WARD__HDR_SIZE || !d->body)
    return NULL;
  size_t bs = body_size(&d->h);
  if (d->bgot >= bs)
    return NULL;
  *missing = bs - d->bgot;
  return d->body + d->bgot;
}

void ward__dec_wrote(ward__dec *d, size_t n) {
  size_t missing;
  if (ward__dec_body_space(d, &missing))
    d->bgot += n < missing ? n : missing;
}

uint8_t *ward__dec_take_body(ward__dec *d) {
  uint8_t *b = d->body;
  if (!d->ready)
    return NULL;
  d->body = NULL;
  d->hgot = 0;
  d->bgot = 0;
  d->ready = 0;
  return b;
}

void ward__frame_put(uint8_t *out, const ward__hdr *h, const char *name, const void *payload) {
  ward__hdr_put(out, h);
  if (h->nlen)
    memcpy(out + WARD__HDR_SIZE, name, h->nlen);
  if (h->len)
    memcpy(out + WARD__HDR_SIZE + h->nlen, payload, h->len);
}

size_t ward__err_size(size_t mlen, size_t dlen) { return 4 + mlen + dlen; }

void ward__err_put(uint8_t *out, const char *msg, size_t mlen, const void *data, size_t dlen) {
  ward__put32(out, (uint32_t)mlen);
  if (mlen)
    memcpy(out + 4, msg, mlen);
  if (dlen)
    memcpy(out + 4 + mlen, data, dlen);
}

int ward__err_get(const uint8_t *p, size_t n, const char **msg, size_t *mlen,
                  const uint8_t **data, size_t *dlen) {
  if (n < 4)
    return WARD_EPROTO;
  uint32_t m = ward__get32(p);
  if (m > n - 4)
    return WARD_EPROTO;
  *msg = (const char *)p + 4;
  *mlen = m;
  *data = p + 4 + m;
  *dlen = n - 4 - m;
  return 0;
}

int ward__kv_next(const uint8_t *p, size_t n, size_t *pos, ward__kv *kv) {
  size_t i = *pos;
  if (i >= n)
    return 0;
  const uint8_t *nl = memchr(p + i, '\n', n - i);
  if (!nl)
    return WARD_EPROTO;
  size_t end = (size_t)(nl - p);
  const uint8_t *eq = memchr(p + i, '=', end - i);
  if (!eq || eq == p + i)
    return WARD_EPROTO;
  kv->key = (const char *)p + i;
  kv->klen = (size_t)(eq - (p + i));
  kv->val = (const char *)eq + 1;
  kv->vlen = end - (size_t)(eq + 1 - p);
  *pos = end + 1;
  return 1;
}
