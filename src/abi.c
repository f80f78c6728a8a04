/*
 * abi.c — the structs a caller allocates: options read, figures filled.
 *
 * Design notes
 * ------------
 * A program may be built against an older ward.h than the library it
 * runs with, so its structs may be smaller than ours. Each starts with
 * `uint32_t struct_size`, the size the program compiled (its _INIT macro
 * or init function sets it), and this file is the only one that looks at
 * it: options are overlaid on our defaults for the first struct_size
 * bytes, figures are copied out for the first struct_size bytes, and
 * nothing past them is read or written.
 *
 * Any prefix of a struct is a struct ward can read: the layout of an
 * older ward.h, or the fields a binding chose to declare. The one rule
 * that makes a byte copy right is for whoever adds a field: new fields go
 * at the end, each starting at or past the sizeof of the struct's
 * previous version, so that a new field never lies in what was the old
 * struct's tail padding (which an old caller's size covers, but whose
 * bytes mean nothing). tests/test_abi.c keeps the released layouts and
 * fails to build when a field moves.
 *
 * A size that does not reach the end of the struct's first field is no
 * layout at all (0 is the usual case: a struct not started from its _INIT
 * macro) and is refused, so that such a mistake shows at once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "ward_int.h"

/* A struct as the library knows it. */
typedef struct layout {
  const char *name;  /* "ward_host_opts" */
  const char *macro; /* "WARD_HOST_OPTS_INIT" */
  size_t size;       /* our sizeof */
  size_t least;      /* the smallest struct_size: where its first field ends */
} layout;

#define END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define LAYOUT(type, macro, first) {#type, #macro, sizeof(type), END_OF(type, first)}

/* Each with its first field after struct_size. */
static const layout host_opts_l = LAYOUT(ward_host_opts, WARD_HOST_OPTS_INIT, on_event);
static const layout call_opts_l = LAYOUT(ward_call_opts, WARD_CALL_OPTS_INIT, timeout_ms);
static const layout log_query_l = LAYOUT(ward_log_query, WARD_LOG_QUERY_INIT, streams);
static const layout pool_opts_l = LAYOUT(ward_pool_opts, WARD_POOL_OPTS_INIT, min_workers);
static const layout replace_opts_l = LAYOUT(ward_replace_opts, WARD_REPLACE_OPTS_INIT, ready_ms);
static const layout info_l = LAYOUT(ward_info, WARD_INFO_INIT, pid);
static const layout pool_stats_l = LAYOUT(ward_pool_stats, WARD_POOL_STATS_INIT, workers);
static const layout summary_l = LAYOUT(ward_summary, WARD_SUMMARY_INIT, rows);
static const layout sandbox_l = LAYOUT(ward_sandbox, WARD_SANDBOX_INIT, no_new_privs);
static const layout class_info_l = LAYOUT(ward_class_info, WARD_CLASS_INFO_INIT, restart);
static const layout ext_opts_l = LAYOUT(ward_ext_host_opts, WARD_EXT_HOST_OPTS_INIT, on_event);

static const ward_host_opts host_opts_default = WARD_HOST_OPTS_INIT;
static const ward_call_opts call_opts_default = WARD_CALL_OPTS_INIT;
static const ward_log_query log_query_default = WARD_LOG_QUERY_INIT;
static const ward_pool_opts pool_opts_default = WARD_POOL_OPTS_INIT;
static const ward_replace_opts replace_opts_default = WARD_REPLACE_OPTS_INIT;
static const ward_info info_default = WARD_INFO_INIT;
static const ward_pool_stats pool_stats_default = WARD_POOL_STATS_INIT;
static const ward_summary summary_default = WARD_SUMMARY_INIT;
static const ward_sandbox sandbox_default = WARD_SANDBOX_INIT;
static const ward_class_info class_info_default = WARD_CLASS_INFO_INIT;
static const ward_ext_host_opts ext_opts_default = WARD_EXT_HOST_OPTS_INIT;

/* The struct's size field, read as bytes: the struct may be of a layout
 * we do not know. */
static uint32_t size_of(const void *p) {
  uint32_t n;
  memcpy(&n, p, sizeof n);
  return n;
}

static size_t covered(const layout *l, const void *p) {
  uint32_t n = size_of(p);
  return n < l->size ? n : l->size;
}

static int check(const layout *l, const void *p) {
  uint32_t n = size_of(p);
  if (n >= l->least)
    return 0;
  if (n == 0)
    return ward__fail(WARD_EINVAL, "%s.struct_size is 0: start it from %s (or %s_init)",
                      l->name, l->macro, l->name);
  return ward__fail(WARD_EINVAL,
                    "%s.struct_size is %u, too small for any %s (at least %zu bytes): "
                    "start it from %s (or %s_init)",
                    l->name, (unsigned)n, l->name, l->least, l->macro, l->name);
}

static int take(const layout *l, void *o, const void *in, const void *defaults) {
  memcpy(o, defaults, l->size);
  if (!in)
    return 0;
  int rv = check(l, in);
  if (rv)
    return rv;
  memcpy(o, in, covered(l, in));
  uint32_t full = (uint32_t)l->size;
  memcpy(o, &full, sizeof full);
  return 0;
}

/* Everything after struct_size, as far as the caller's size reaches. */
static int put(const layout *l, void *out, const void *v) {
  if (!out)
    return ward__fail(WARD_EINVAL, "NULL %s", l->name);
  int rv = check(l, out);
  if (rv)
    return rv;
  memcpy((char *)out + sizeof(uint32_t), (const char *)v + sizeof(uint32_t),
         covered(l, out) - sizeof(uint32_t));
  return 0;
}

static int init(const layout *l, void *p, size_t size, const void *defaults) {
  if (!p)
    return ward__fail(WARD_EINVAL, "NULL %s", l->name);
  if (size < l->least || size > UINT32_MAX)
    return ward__fail(WARD_EINVAL, "a %s of %zu bytes: it holds at least %zu", l->name, size,
                      l->least);
  size_t n = size < l->size ? size : l->size;
  memcpy(p, defaults, n);
  /* A caller newer than us: what we do not know reads 0. */
  memset((char *)p + n, 0, size - n);
  uint32_t s32 = (uint32_t)size;
  memcpy(p, &s32, sizeof s32);
  return 0;
}

int ward__host_opts_take(ward_host_opts *o, const ward_host_opts *in) {
  return take(&host_opts_l, o, in, &host_opts_default);
}

int ward__log_query_take(ward_log_query *o, const ward_log_query *in) {
  return take(&log_query_l, o, in, &log_query_default);
}

int ward__pool_opts_take(ward_pool_opts *o, const ward_pool_opts *in) {
  return take(&pool_opts_l, o, in, &pool_opts_default);
}

int ward__replace_opts_take(ward_replace_opts *o, const ward_replace_opts *in) {
  return take(&replace_opts_l, o, in, &replace_opts_default);
}

int ward__call_opts_take(ward_call_opts *o, const ward_call_opts *in) {
  int rv = take(&call_opts_l, o, in, &call_opts_default);
  if (rv || !o->summary)
    return rv;
  return put(&summary_l, o->summary, &summary_default);
}

int ward__sandbox_take(ward_sandbox *o, const ward_sandbox *in) {
  return take(&sandbox_l, o, in, &sandbox_default);
}

int ward__info_put(ward_info *out, const ward_info *v) { return put(&info_l, out, v); }

int ward__class_info_put(ward_class_info *out, const ward_class_info *v) {
  return put(&class_info_l, out, v);
}

int ward__pool_stats_put(ward_pool_stats *out, const ward_pool_stats *v) {
  return put(&pool_stats_l, out, v);
}

/* Whether the caller's summary has room for the streams array (a prefix
 * may stop short of it). */
static int has_streams(const ward_summary *s) {
  return covered(&summary_l, s) >= END_OF(ward_summary, streams);
}

int ward__summary_put(ward_summary *out, ward_summary *v) {
  int rv = put(&summary_l, out, v);
  if (rv || !has_streams(out))
    free(v->streams);
  v->streams = NULL;
  return rv;
}

void ward_summary_clear(ward_summary *s) {
  /* A summary with a bad size was refused by its call, never filled. */
  if (!s || size_of(s) < summary_l.least)
    return;
  if (has_streams(s))
    free(s->streams);
  memcpy((char *)s + sizeof(uint32_t), (const char *)&summary_default + sizeof(uint32_t),
         covered(&summary_l, s) - sizeof(uint32_t));
}

int ward_host_opts_init(ward_host_opts *opts, size_t size) {
  return init(&host_opts_l, opts, size, &host_opts_default);
}

int ward_call_opts_init(ward_call_opts *opts, size_t size) {
  return init(&call_opts_l, opts, size, &call_opts_default);
}

int ward_log_query_init(ward_log_query *q, size_t size) {
  return init(&log_query_l, q, size, &log_query_default);
}

int ward_pool_opts_init(ward_pool_opts *opts, size_t size) {
  return init(&pool_opts_l, opts, size, &pool_opts_default);
}

int ward_replace_opts_init(ward_replace_opts *opts, size_t size) {
  return init(&replace_opts_l, opts, size, &replace_opts_default);
}

int ward_info_init(ward_info *info, size_t size) {
  return init(&info_l, info, size, &info_default);
}

int ward_pool_stats_init(ward_pool_stats *stats, size_t size) {
  return init(&pool_stats_l, stats, size, &pool_stats_default);
}

int ward_summary_init(ward_summary *s, size_t size) {
  return init(&summary_l, s, size, &summary_default);
}

int ward_sandbox_init(ward_sandbox *sb, size_t size) {
  return init(&sandbox_l, sb, size, &sandbox_default);
}

int ward_class_info_init(ward_class_info *info, size_t size) {
  return init(&class_info_l, info, size, &class_info_default);
}

int ward__ext_host_opts_take(ward_ext_host_opts *o, const ward_ext_host_opts *in) {
  return take(&ext_opts_l, o, in, &ext_opts_default);
}

int ward_ext_host_opts_init(ward_ext_host_opts *opts, size_t size) {
  return init(&ext_opts_l, opts, size, &ext_opts_default);
}
