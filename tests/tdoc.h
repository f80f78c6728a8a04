/*
 * tdoc.h — reading the documentation from a test, to check what it says
 * against the code (test_config: docs/cli.md's keys; test_defaults: the
 * defaults quoted in docs/).
 */
#ifndef WARD_TDOC_H
#define WARD_TDOC_H

#include "test.h"

/* The whole of `path` (under the source tree), NUL-terminated. */
static inline char *t_read_doc(const char *path) {
  char full[1024];
  snprintf(full, sizeof full, "%s/%s", WARD_SOURCE_DIR, path);
  FILE *f = fopen(full, "r");
  if (!f)
    T_FAIL("%s: %s", full, strerror(errno));
  char *text = NULL;
  size_t len = 0, cap = 0;
  for (int c; (c = fgetc(f)) != EOF;) {
    if (len + 2 > cap) {
      cap = cap ? 2 * cap : 1 << 16;
      text = realloc(text, cap);
      T_TRUE(text != NULL);
    }
    text[len++] = (char)c;
  }
  fclose(f);
  if (!text)
    text = calloc(1, 1);
  T_TRUE(text != NULL);
  text[len] = 0;
  return text;
}

/* `text` with every run of spaces and newlines made one space, in place,
 * so that a phrase is found wherever the paragraph happens to wrap. */
static inline char *t_squash(char *text) {
  char *w = text;
  for (const char *r = text; *r; r++) {
    int space = *r == ' ' || *r == '\n';
    if (!space || (w > text && w[-1] != ' '))
      *w++ = space ? ' ' : *r;
  }
  *w = 0;
  return text;
}

#endif
