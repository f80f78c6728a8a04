/*
 * hello.c — parsing the handshake's payloads (see hello.h).
 *
 * Design notes: the HELLO is the first thing a worker sends, before the
 * host knows anything of it, so every list it fills is bounded and every
 * value is checked before it is kept. Names hold no NUL (protocol.md 3.2):
 * one that did would be cut short when copied as a C string, and the host
 * would record a method the worker never named.
 */
#include "hello.h"

#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "ward.h"

void ward__hello_free(ward__hello *hl) {
  ward__strv_free(hl->methods);
  for (size_t i = 0; i < hl->nmeta; i++) {
    free(hl->meta[i].key);
    free(hl->meta[i].value);
  }
  free(hl->meta);
  memset(hl, 0, sizeof *hl);
}

static int add_method(ward__hello *hl, const ward__kv *kv) {
  char **v = realloc(hl->methods, (hl->nmethods + 2) * sizeof *v);
  if (!v)
    return WARD_ENOMEM;
  hl->methods = v;
  v[hl->nmethods] = ward__strndup(kv->val, kv->vlen);
  if (!v[hl->nmethods])
    return WARD_ENOMEM;
  v[++hl->nmethods] = NULL;
  return 0;
}

static int add_meta(ward__hello *hl, const ward__kv *kv) {
  ward__meta *v = realloc(hl->meta, (hl->nmeta + 1) * sizeof *v);
  if (!v)
    return WARD_ENOMEM;
  hl->meta = v;
  v[hl->nmeta].key = ward__strndup(kv->key + 5, kv->klen - 5);
  v[hl->nmeta].value = ward__strndup(kv->val, kv->vlen);
  hl->nmeta++;
  if (!v[hl->nmeta - 1].key || !v[hl->nmeta - 1].value)
    return WARD_ENOMEM;
  return 0;
}

static int key_is(const ward__kv *kv, const char *k) {
  return kv->klen == strlen(k) && memcmp(kv->key, k, kv->klen) == 0;
}

static int has_nul(const char *p, size_t n) { return memchr(p, '\0', n) != NULL; }

/* A max_frame value: decimal digits only, 1..UINT32_MAX. */
static int max_frame_value(const ward__kv *kv, uint32_t *out) {
  if (kv->vlen == 0)
    return WARD_EPROTO;
  uint64_t v = 0;
  for (size_t i = 0; i < kv->vlen; i++) {
    if (kv->val[i] < '0' || kv->val[i] > '9')
      return WARD_EPROTO;
    v = v * 10 + (uint64_t)(kv->val[i] - '0');
    if (v > UINT32_MAX)
      return WARD_EPROTO;
  }
  if (v == 0)
    return WARD_EPROTO;
  *out = (uint32_t)v;
  return 0;
}

int ward__hello_parse(ward__hello *hl, const uint8_t *p, size_t n) {
  memset(hl, 0, sizeof *hl);
  if (n > WARD__HELLO_MAX_BYTES)
    return WARD_EPROTO;
  hl->max_frame = WARD_MAX_FRAME_DEFAULT;
  size_t pos = 0;
  ward__kv kv;
  int r;
  while ((r = ward__kv_next(p, n, &pos, &kv)) == 1) {
    if (key_is(&kv, "max_frame")) {
      if (max_frame_value(&kv, &hl->max_frame))
        return WARD_EPROTO;
    } else if (key_is(&kv, "zerocopy")) {
      hl->zerocopy = kv.vlen == 1 && kv.val[0] == '1';
    } else if (key_is(&kv, "shm")) {
      /* Version 1 of the rings; a worker offering only others has none. */
      hl->shm = kv.vlen == 1 && kv.val[0] == '1';
    } else if (key_is(&kv, "token")) {
      hl->token = kv.val;
      hl->token_len = kv.vlen;
    } else if (key_is(&kv, "method")) {
      if (kv.vlen == 0 || kv.vlen > WARD_MAX_NAME || has_nul(kv.val, kv.vlen) ||
          hl->nmethods >= WARD__HELLO_MAX_METHODS)
        return WARD_EPROTO;
      if (add_method(hl, &kv))
        return WARD_ENOMEM;
    } else if (kv.klen > 5 && memcmp(kv.key, "meta.", 5) == 0) {
      if (hl->nmeta >= WARD__HELLO_MAX_META || has_nul(kv.key, kv.klen) ||
          has_nul(kv.val, kv.vlen))
        return WARD_EPROTO;
      if (add_meta(hl, &kv))
        return WARD_ENOMEM;
    }
  }
  return r;
}

int ward__hello_max_frame(const uint8_t *p, size_t n, uint32_t *max) {
  size_t pos = 0;
  ward__kv kv;
  int found = 0;
  while (ward__kv_next(p, n, &pos, &kv) == 1)
    if (key_is(&kv, "max_frame") && max_frame_value(&kv, max) == 0)
      found = 1;
  return found;
}

int ward__hello_zerocopy(const uint8_t *p, size_t n, uint32_t *min) {
  size_t pos = 0;
  ward__kv kv;
  int found = 0;
  uint32_t v;
  while (ward__kv_next(p, n, &pos, &kv) == 1)
    if (key_is(&kv, "zerocopy") && max_frame_value(&kv, &v) == 0 && v >= WARD__ZC_FLOOR) {
      *min = v;
      found = 1;
    }
  return found;
}

int ward__hello_shm(const uint8_t *p, size_t n, uint32_t *cap) {
  size_t pos = 0;
  ward__kv kv;
  int found = 0;
  while (ward__kv_next(p, n, &pos, &kv) == 1)
    if (key_is(&kv, "shm") && max_frame_value(&kv, cap) == 0)
      found = 1;
  return found;
}
