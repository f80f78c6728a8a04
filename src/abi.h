/*
 * abi.h — reading and filling the structs a caller allocates (abi.c).
 *
 * Each such struct starts with `uint32_t struct_size`, the size the
 * caller compiled it with; see "Structs and the ABI" in ward.h. Entry
 * points never touch a caller's struct directly: options are taken into a
 * full struct of the library's own layout (defaults where the caller's
 * struct ends), and figures are built in one and put into the caller's
 * struct as far as its size reaches. Inside the library every struct is
 * then a whole one.
 */
#ifndef WARD_ABI_H
#define WARD_ABI_H

#include "ward.h"

/* Options: `*o` receives the library's defaults overlaid with the caller's
 * struct `in` (NULL: defaults alone), with o->struct_size the library's.
 * WARD_EINVAL, with the thread's detail, for a struct_size too small for
 * the struct's first field. */
int ward__host_opts_take(ward_host_opts *o, const ward_host_opts *in);
int ward__log_query_take(ward_log_query *o, const ward_log_query *in);
int ward__pool_opts_take(ward_pool_opts *o, const ward_pool_opts *in);
int ward__replace_opts_take(ward_replace_opts *o, const ward_replace_opts *in);
int ward__sandbox_take(ward_sandbox *o, const ward_sandbox *in);
int ward__ext_host_opts_take(ward_ext_host_opts *o, const ward_ext_host_opts *in);
/* The same, and if the options name a summary, checks its struct_size and
 * zeroes its figures (as far as its size reaches), as a call does when it
 * starts. */
int ward__call_opts_take(ward_call_opts *o, const ward_call_opts *in);

/* Figures: copies `v` into the caller's `out`, as far as out->struct_size
 * reaches, leaving out->struct_size as it is. WARD_EINVAL (nothing
 * written) for a NULL `out` or a struct_size too small for its first
 * field. */
int ward__info_put(ward_info *out, const ward_info *v);
int ward__class_info_put(ward_class_info *out, const ward_class_info *v);
int ward__pool_stats_put(ward_pool_stats *out, const ward_pool_stats *v);
/* The summary's streams array passes to the caller's struct, or is freed
 * if that struct stops short of it (or on error); v->streams is NULL
 * afterwards. */
int ward__summary_put(ward_summary *out, ward_summary *v);

#endif
