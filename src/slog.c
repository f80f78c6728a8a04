/*
 * slog.c — the LOG frame's payload (see slog.h, docs/protocol.md 8.4).
 *
 * Design notes: the decoder separates what breaks the frame from what
 * breaks a rule. A payload that is not a sequence of length-prefixed
 * strings to its end means the sender's encoder is wrong, as a malformed
 * ERROR does, and is a protocol violation. A well-formed payload whose
 * record breaks a rule (an unknown level, sizes, a key ward would not
 * print as key=value, text that is not UTF-8) is the sender's data being
 * wrong: the host keeps a note that it dropped one instead of the record,
 * and keeps the worker.
 */
#include "slog.h"

#include <stdio.h>
#include <string.h>

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t ward__rec_size(const ward__rec *r) {
  size_t n = 4 + r->mlen;
  for (size_t i = 0; i < r->nfields && i < WARD_LOG_FIELDS_MAX; i++)
    n += 8 + r->f[i].klen + r->f[i].vlen;
  return n;
}

static uint8_t *put_str(uint8_t *out, const char *s, size_t n) {
  put32(out, (uint32_t)n);
  if (n)
    memcpy(out + 4, s, n);
  return out + 4 + n;
}

void ward__rec_put(uint8_t *out, const ward__rec *r) {
  out = put_str(out, r->msg, r->mlen);
  for (size_t i = 0; i < r->nfields && i < WARD_LOG_FIELDS_MAX; i++) {
    out = put_str(out, r->f[i].key, r->f[i].klen);
    out = put_str(out, r->f[i].val, r->f[i].vlen);
  }
}

/* One length-prefixed string at *pos; 0, or WARD_EPROTO past the end. */
static int get_str(const uint8_t *p, size_t n, size_t *pos, const char **s, size_t *len) {
  if (n - *pos < 4)
    return WARD_EPROTO;
  uint32_t l = get32(p + *pos);
  if (l > n - *pos - 4)
    return WARD_EPROTO;
  *s = (const char *)p + *pos + 4;
  *len = l;
  *pos += 4 + (size_t)l;
  return 0;
}

int ward__rec_get(ward__rec *r, const ward__hdr *h, const uint8_t *p, size_t n) {
  size_t pos = 0;
  r->level = h->aux > 255 ? 0 : (int)h->aux;
  r->call_id = h->id;
  r->nfields = 0;
  if (get_str(p, n, &pos, &r->msg, &r->mlen))
    return WARD_EPROTO;
  while (pos < n) {
    ward__recfield fl;
    if (get_str(p, n, &pos, &fl.key, &fl.klen) || get_str(p, n, &pos, &fl.val, &fl.vlen))
      return WARD_EPROTO;
    if (r->nfields < WARD_LOG_FIELDS_MAX)
      r->f[r->nfields] = fl;
    r->nfields++;
  }
  return 0;
}

int ward__utf8_valid(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t more;
    unsigned min;
    if (c == 0)
      return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      more = 1;
      min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      more = 2;
      min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      more = 3;
      min = 0x10000;
    } else {
      return 0; /* a continuation byte first, an overlong lead, or past U+10FFFF */
    }
    if (n - i <= more)
      return 0;
    unsigned cp = c & (0x3Fu >> more);
    for (size_t k = 1; k <= more; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return 0;
      cp = cp << 6 | (s[i + k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += more + 1;
  }
  return 1;
}

/* Keys are printed as key=value and used as JSON keys and shell words:
 * letters, digits, '_', '.' and '-'. */
static int key_valid(const char *k, size_t n) {
  if (n == 0 || n > WARD_LOG_KEY_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = k[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == '-'))
      return 0;
  }
  return 1;
}

const char *ward__rec_check(const ward__rec *r) {
  if (r->level < WARD_LEVEL_TRACE || r->level > WARD_LEVEL_ERROR)
    return "unknown level";
  if (r->mlen > WARD_LOG_MESSAGE_MAX)
    return "message over 4096 bytes";
  if (!ward__utf8_valid(r->msg, r->mlen))
    return "message not UTF-8 or holding a NUL byte";
  if (r->nfields > WARD_LOG_FIELDS_MAX)
    return "more than 32 fields";
  for (size_t i = 0; i < r->nfields; i++) {
    if (!key_valid(r->f[i].key, r->f[i].klen))
      return "a field key empty, over 64 bytes, or not of [A-Za-z0-9_.-]";
    /* Distinct keys: a record reads as a JSON object, and a reader of
     * key=value pairs need not guess which of two values counts. */
    for (size_t k = 0; k < i; k++)
      if (r->f[k].klen == r->f[i].klen && memcmp(r->f[k].key, r->f[i].key, r->f[i].klen) == 0)
        return "a field key repeated";
    if (r->f[i].vlen > WARD_LOG_VALUE_MAX)
      return "a field value over 1024 bytes";
    if (!ward__utf8_valid(r->f[i].val, r->f[i].vlen))
      return "a field value not UTF-8 or holding a NUL byte";
  }
  return NULL;
}

/* The line of ward_log_format, written through `put` so that one walk
 * both measures and fills. */
typedef struct fmt {
  char *buf;
  size_t cap, len;
} fmt;

static void put_c(fmt *f, char c) {
  if (f->len + 1 < f->cap)
    f->buf[f->len] = c;
  f->len++;
}

static void put_s(fmt *f, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    put_c(f, (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c);
  }
}

static void put_value(fmt *f, const char *v) {
  int quote = !*v || strpbrk(v, " \t\"=\\") != NULL;
  if (!quote) {
    put_s(f, v);
    return;
  }
  put_c(f, '"');
  for (char one[2] = {0, 0}; *v; v++) {
    if (*v == '"' || *v == '\\')
      put_c(f, '\\');
    one[0] = *v;
    put_s(f, one);
  }
  put_c(f, '"');
}

size_t ward_log_format(char *buf, size_t cap, int level, const char *msg,
                       const ward_log_field *fields, size_t nfields, uint32_t call_id) {
  fmt f = {buf, buf ? cap : 0, 0};
  const char *name = ward_level_name(level);
  for (; *name; name++)
    put_c(&f, (char)(*name - 'a' + 'A'));
  put_c(&f, ' ');
  put_s(&f, msg ? msg : "");
  for (size_t i = 0; fields && i < nfields; i++) {
    put_c(&f, ' ');
    put_s(&f, fields[i].key ? fields[i].key : "");
    put_c(&f, '=');
    put_value(&f, fields[i].value ? fields[i].value : "");
  }
  if (call_id) {
    char id[24];
    snprintf(id, sizeof id, " (call %u)", (unsigned)call_id);
    put_s(&f, id);
  }
  if (f.cap)
    f.buf[f.len < f.cap ? f.len : f.cap - 1] = 0;
  return f.len;
}
