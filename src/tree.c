/*
 * tree.c — what the text of a cgroup's files says (the Linux backend
 * reads them; here they are only text, so tests can give any), and the
 * names of the ways a worker's process tree is held.
 *
 * A pressure file (Documentation/accounting/psi.rst) holds one or two
 * lines:
 *     some avg10=0.12 avg60=0.05 avg300=0.01 total=12345
 *     full avg10=0.00 avg60=0.00 avg300=0.00 total=0
 * cpu.pressure has "full" too since 5.13 (all zeros at the top level).
 * The figure kept is "some avg10", the share of the last ten seconds in
 * which at least one process of the tree waited, as a whole number of
 * hundredths of a percent so that it fits an int in ward_info.
 */
#include <stdint.h>
#include <string.h>

#include "ward_int.h"

/* Reads "D[.DD]" as hundredths; -1 when it is not a number. */
static int hundredths(const char *p) {
  if (*p < '0' || *p > '9')
    return -1;
  long v = 0;
  while (*p >= '0' && *p <= '9') {
    v = v * 10 + (*p++ - '0');
    if (v > 100)
      return -1; /* a share over 100 % is no pressure figure */
  }
  v *= 100;
  if (*p == '.') {
    p++;
    for (int k = 10; k >= 1; k /= 10) {
      if (*p < '0' || *p > '9')
        break;
      v += (*p++ - '0') * k;
    }
  }
  return v > 10000 ? -1 : (int)v;
}

int ward__pressure_avg10(const char *text) {
  if (!text)
    return -1;
  for (const char *line = text; *line;) {
    if (strncmp(line, "some ", 5) == 0) {
      const char *a = strstr(line, "avg10=");
      const char *eol = strchr(line, '\n');
      if (a && (!eol || a < eol))
        return hundredths(a + 6);
      return -1;
    }
    const char *eol = strchr(line, '\n');
    if (!eol)
      break;
    line = eol + 1;
  }
  return -1;
}

int ward__keyed_u64(const char *text, const char *key, uint64_t *v) {
  size_t klen = strlen(key);
  if (!text || !klen)
    return -1;
  for (const char *line = text; *line;) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
      const char *p = line + klen + 1;
      if (*p < '0' || *p > '9')
        return -1;
      uint64_t n = 0;
      while (*p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p++ - '0');
        if (n > (UINT64_MAX - d) / 10)
          return -1;
        n = n * 10 + d;
      }
      if (*p && *p != '\n')
        return -1;
      *v = n;
      return 0;
    }
    const char *eol = strchr(line, '\n');
    if (!eol)
      break;
    line = eol + 1;
  }
  return -1;
}

const char *ward_tree_name(int tree) {
  switch (tree) {
  case WARD_TREE_NONE:
    return "none";
  case WARD_TREE_PGROUP:
    return "pgroup";
  case WARD_TREE_CGROUP:
    return "cgroup";
  case WARD_TREE_JOB:
    return "job";
  default:
    return "?";
  }
}
