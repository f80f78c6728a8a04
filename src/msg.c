/*
 * msg.c — received messages, queued items, handler tables, name checks.
 */
#include <stdlib.h>
#include <string.h>

#include "ward_int.h"

ward_msg *ward__msg_new(int code, int enc, const char *err, size_t elen, const void *data,
                        size_t len) {
  /* One block: the struct, the data (NUL-terminated for convenience) and
   * the error text. */
  ward_msg *m = malloc(sizeof *m + len + 1 + (err ? elen + 1 : 0));
  if (!m)
    return NULL;
  uint8_t *d = (uint8_t *)(m + 1);
  if (len)
    memcpy(d, data, len);
  d[len] = 0;
  m->code = code;
  m->enc = enc;
  m->data = d;
  m->len = len;
  m->owned = NULL;
  m->map = NULL;
  m->error = NULL;
  if (err) {
    m->error = (char *)d + len + 1;
    memcpy(m->error, err, elen);
    m->error[elen] = 0;
  }
  return m;
}

const void *ward_msg_data(const ward_msg *m) { return m ? (const void *)m->data : ""; }
size_t ward_msg_len(const ward_msg *m) { return m ? m->len : 0; }
int ward_msg_encoding(const ward_msg *m) { return m ? m->enc : WARD_ENC_RAW; }
int ward_msg_code(const ward_msg *m) { return m ? m->code : 0; }
const char *ward_msg_error(const ward_msg *m) { return m ? m->error : NULL; }

void ward_msg_free(ward_msg *m) {
  if (!m)
    return;
  ward__body_free(m->owned);
  ward__map_unref(m->map);
  free(m);
}

ward__item *ward__item_new(const ward__frame *f, uint8_t *owned) {
  if (f->map) {
    /* The payload stays in its mapping; the name is copied. */
    ward__body_free(owned);
    owned = NULL;
  }
  size_t extra = (size_t)f->h.nlen + 1 + (owned || f->map ? 0 : (size_t)f->h.len + 1);
  ward__item *it = malloc(sizeof *it + extra);
  if (!it) {
    free(owned);
    return NULL;
  }
  char *name = (char *)(it + 1);
  memcpy(name, f->name, f->h.nlen);
  name[f->h.nlen] = 0;
  it->next = NULL;
  it->h = f->h;
  it->name = name;
  it->owned = owned;
  it->cancelled = 0;
  it->pack = NULL;
  it->map = ward__map_ref(f->map);
  if (f->map) {
    it->data = f->payload;
  } else if (owned) {
    it->data = owned + f->h.nlen;
  } else {
    uint8_t *d = (uint8_t *)name + f->h.nlen + 1;
    if (f->h.len)
      memcpy(d, f->payload, f->h.len);
    d[f->h.len] = 0;
    it->data = d;
  }
  return it;
}

size_t ward__item_weight(const ward__item *it) {
  return it->h.len + (it->map ? WARD__ZC_WEIGHT : 0);
}

void ward__item_free(ward__item *it) {
  if (!it)
    return;
  ward__body_free(it->owned);
  ward__map_unref(it->map);
  ward__rowpack_free(it->pack);
  free(it);
}

void ward__rowpack_free(ward__rowpack *p) {
  while (p) {
    ward__rowpack *next = p->next;
    free(p->rows);
    free(p->buf);
    free(p);
    p = next;
  }
}

void ward__itemq_push(ward__itemq *q, ward__item *it) {
  it->next = NULL;
  if (q->tail)
    q->tail->next = it;
  else
    q->head = it;
  q->tail = it;
}

ward__item *ward__itemq_pop(ward__itemq *q) {
  ward__item *it = q->head;
  if (!it)
    return NULL;
  q->head = it->next;
  if (!q->head)
    q->tail = NULL;
  it->next = NULL;
  return it;
}

int ward__check_name(const char *name) {
  if (!name || !*name)
    return ward__fail(WARD_EINVAL, "empty name");
  if (strlen(name) > WARD_MAX_NAME)
    return ward__fail(WARD_EINVAL, "name longer than %d bytes", WARD_MAX_NAME);
  return 0;
}

int ward__handlers_set(ward__handlers *t, const char *method, ward_handler fn, void *ud) {
  int rv = ward__check_name(method);
  if (rv)
    return rv;
  if (!fn)
    return ward__fail(WARD_EINVAL, "handler for '%s' is NULL", method);
  for (size_t i = 0; i < t->n; i++) {
    if (strcmp(t->v[i].method, method) == 0) {
      t->v[i].fn = fn;
      t->v[i].ud = ud;
      return 0;
    }
  }
  ward__handler_entry *v = realloc(t->v, (t->n + 1) * sizeof *v);
  if (!v)
    return WARD_ENOMEM;
  t->v = v;
  char *m = strdup(method);
  if (!m)
    return WARD_ENOMEM;
  v[t->n].method = m;
  v[t->n].fn = fn;
  v[t->n].ud = ud;
  t->n++;
  return 0;
}

const ward__handler_entry *ward__handlers_find(const ward__handlers *t, const char *method) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->v[i].method, method) == 0)
      return &t->v[i];
  return NULL;
}

void ward__handlers_free(ward__handlers *t) {
  for (size_t i = 0; i < t->n; i++)
    free(t->v[i].method);
  free(t->v);
  t->v = NULL;
  t->n = 0;
}
