/*
 * bench_json.h — the results file of the benchmarks (bench.h includes it
 * where jansson is: not in Windows builds, as Debian has no jansson built
 * for mingw-w64). Each program merges its run, rows and notes, into the
 * file under "benchmarks" -> its name.
 */
#ifndef WARD_BENCH_JSON_H
#define WARD_BENCH_JSON_H

#include <jansson.h>

static inline json_t *bench_jnum(double v) {
  return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

/* This run's object: its rows and notes. */
static inline json_t *bench_json_run(void) {
  char when[64];
  time_t t = time(NULL);
  struct tm tm;
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
  json_t *rows = json_array();
  for (int i = 0; i < B.nrows; i++) {
    const bench_row *r = &B.rows[i];
    stat3 s = bench_stats(r->v, r->n);
    json_t *vals = json_array();
    for (int k = 0; k < r->n; k++)
      json_array_append_new(vals, bench_jnum(r->v[k]));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "section", r->section,
                          "mode", r->mode, "name", r->name, "unit", r->unit, "median",
                          bench_jnum(s.med), "min", bench_jnum(s.min), "max", bench_jnum(s.max),
                          "values", vals);
    if (r->base >= 0) {
      json_object_set_new(o, "vs", json_string(B.rows[r->base].name));
      json_object_set_new(o, "ratio", bench_jnum(row_ratio(i)));
    }
    if (r->tkind != T_NONE) {
      json_object_set_new(o, "target", json_string(r->ttext));
      json_object_set_new(o, "target_met", json_boolean(row_met(i) == 1));
    }
    json_array_append_new(rows, o);
  }
  json_t *notes = json_array();
  for (int i = 0; i < B.nnotes; i++)
    json_array_append_new(notes, json_string(B.notes[i]));
  return json_pack("{s:s, s:s, s:s, s:b, s:i, s:i, s:o, s:o}", "time", when, "ward_version",
                   ward_version_string(), "backend", WARD__BACKEND_NAME, "quick", B.quick,
                   "repetitions", B.reps, "cpus", (int)sysconf(_SC_NPROCESSORS_ONLN), "rows",
                   rows, "notes", notes);
}

/* Merges this run into the file, under "benchmarks" -> name, so that every
 * program of one `make bench` fills the same file. Written to a temporary
 * file and renamed, so a reader never sees half a file. */
static inline void bench_write_json(void) {
  if (!B.json)
    return;
  json_t *root = json_load_file(B.json, 0, NULL);
  if (!root || !json_is_object(root) || !json_is_object(json_object_get(root, "benchmarks"))) {
    json_decref(root);
    root = json_pack("{s:{}}", "benchmarks");
  }
  json_object_set_new(json_object_get(root, "benchmarks"), B.name, bench_json_run());
  char tmp[4400];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", B.json, (int)getpid());
  if (json_dump_file(root, tmp, JSON_INDENT(1) | JSON_REAL_PRECISION(6)) != 0 ||
      rename(tmp, B.json) != 0) {
    fprintf(stderr, "bench_%s: cannot write %s: %s\n", B.name, B.json, strerror(errno));
    unlink(tmp);
  }
  json_decref(root);
}

#endif
