/*
 * confenv.c — the environment of a service of `ward run`: its `env`
 * entries and `env_file` lines (KEY=VALUE, a value wholly in quotes
 * unquoted), and the $VAR of its command, replaced before the command is
 * split (config.c). Reading an env_file is bounded: a regular file of
 * 1 MiB at most, never a FIFO or a device that would not end.
 */
#define _GNU_SOURCE

#include "confenv.h"
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int var_start(int c) { return isalpha(c) || c == '_'; }
static int var_char(int c) { return isalnum(c) || c == '_'; }

/* A VALUE wholly in single quotes loses them, as one wholly in double
 * quotes does, where \" and \\ are a quote and a backslash. Anything else
 * is taken as written. A new string, or NULL without memory. */
static char *unquote(const char *v) {
  size_t n = strlen(v);
  char q = n >= 2 ? v[0] : 0;
  if ((q != '\'' && q != '"') || v[n - 1] != q)
    return strdup(v);
  char *out = malloc(n), *o = out;
  if (!out)
    return NULL;
  for (size_t i = 1; i + 1 < n; i++) {
    if (q == '"' && v[i] == '\\' && i + 2 < n && (v[i + 1] == '"' || v[i + 1] == '\\'))
      i++;
    *o++ = v[i];
  }
  *o = 0;
  return out;
}

/* "KEY=VALUE" from env or env_file into *out (malloc'd), its VALUE
 * unquoted. 0; -1 with the reason in `why` ("" when it is not KEY=VALUE). */
int conf_env_entry(const char *kv, char **out, char *why, size_t cap) {
  why[0] = 0;
  const char *eq = strchr(kv, '=');
  if (!eq || eq == kv)
    return -1;
  if (strncmp(kv, "WARD_", 5) == 0) {
    snprintf(why, cap, "WARD_* variables are ward's own");
    return -1;
  }
  char *v = unquote(eq + 1);
  char *e = v ? malloc((size_t)(eq - kv) + strlen(v) + 2) : NULL;
  if (!e) {
    free(v);
    snprintf(why, cap, "out of memory");
    return -1;
  }
  sprintf(e, "%.*s=%s", (int)(eq - kv), kv, v);
  free(v);
  *out = e;
  return 0;
}

/* The largest env_file read: a file of variables, not a data set. */
#define ENV_FILE_MAX (1u << 20)

/* Reads the KEY=VALUE lines of `path` onto `vars` (NULL-terminated).
 * 0, or -1 with the reason, naming the file, in `why`. */
int conf_env_file_read(const char *path, char ***vars, char *why, size_t cap) {
  /* Not a FIFO or a device that would never end (or block the daemon). */
  FILE *f = fopen(path, "re");
  struct stat st;
  if (!f || fstat(fileno(f), &st) != 0) {
    snprintf(why, cap, "env_file: %s: %s", path, strerror(errno));
    if (f)
      fclose(f);
    return -1;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > (off_t)ENV_FILE_MAX) {
    snprintf(why, cap, "env_file: %s: %s", path,
             S_ISREG(st.st_mode) ? "larger than 1 MiB" : "not a regular file");
    fclose(f);
    return -1;
  }
  char *line = NULL;
  size_t lcap = 0, n = conf_strv_len(*vars);
  int lineno = 0, rv = 0;
  ssize_t got;
  while (!rv && (got = getline(&line, &lcap, f)) >= 0) {
    lineno++;
    while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
      line[--got] = 0;
    const char *t = line + strspn(line, " \t");
    if (!*t || *t == '#')
      continue;
    char *e = NULL, reason[128] = "";
    size_t klen = strcspn(t, "=");
    int name_ok = var_start((unsigned char)t[0]) && !memchr(line, 0, (size_t)got);
    for (size_t i = 1; name_ok && i < klen; i++)
      name_ok = var_char((unsigned char)t[i]);
    if (!name_ok || conf_env_entry(t, &e, reason, sizeof reason)) {
      snprintf(why, cap, "env_file: %s:%d: %s", path, lineno,
               !name_ok || !reason[0] ? "not KEY=VALUE" : reason);
      rv = -1;
    } else if (conf_strv_push(vars, &n, e)) {
      snprintf(why, cap, "out of memory");
      rv = -1;
    }
    free(e);
  }
  free(line);
  fclose(f);
  return rv;
}

/* The value of $name (len bytes) for a service: its env (the last entry
 * wins), its env_file's, the daemon's environment; or NULL. */
static const char *var_value(const svc_conf *s, const char *name, size_t len) {
  for (size_t i = s->nenv; i-- > 0;)
    if (strncmp(s->env[i], name, len) == 0 && s->env[i][len] == '=')
      return s->env[i] + len + 1;
  for (size_t i = conf_strv_len(s->file_env); i-- > 0;)
    if (strncmp(s->file_env[i], name, len) == 0 && s->file_env[i][len] == '=')
      return s->file_env[i] + len + 1;
  char key[256];
  if (len >= sizeof key)
    return NULL;
  memcpy(key, name, len);
  key[len] = 0;
  return getenv(key);
}

/* A growing string; `bad` once memory ran out. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  int bad;
} sbuf;

static void sb_putc(sbuf *b, char c) {
  if (b->bad)
    return;
  if (b->len + 2 > b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 128;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->bad = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  b->p[b->len++] = c;
  b->p[b->len] = 0;
}

/* A variable's value where the command has it, so that the shell's
 * splitting (below) reads it as text: inside double quotes, with " \ $ `
 * escaped; outside quotes, every character escaped but blanks, which
 * separate words as a shell's unquoted $VAR would (a newline too). */
static void sb_put_value(sbuf *b, const char *v, int dquoted) {
  for (; *v; v++) {
    if (dquoted) {
      if (strchr("\"\\$`", *v))
        sb_putc(b, '\\');
      sb_putc(b, *v);
    } else if (*v == ' ' || *v == '\t' || *v == '\n') {
      sb_putc(b, ' ');
    } else {
      sb_putc(b, '\\');
      sb_putc(b, *v);
    }
  }
}

/* Replaces $NAME, ${NAME} and $$ in a command (not inside single quotes,
 * and not after a backslash), as the shell reads them, for split_words.
 * 0 with *out (malloc'd); or -1 with the reason in `why`. */
int conf_expand_vars(const svc_conf *s, const char *in, char **out, char *why, size_t cap) {
  sbuf b = {0};
  char q = 0; /* the quote we are in */
  for (const char *c = in; *c; c++) {
    if (q == '\'') {
      q = *c == '\'' ? 0 : q;
      sb_putc(&b, *c);
      continue;
    }
    if (*c == '\\' && c[1]) {
      sb_putc(&b, *c++);
      sb_putc(&b, *c);
      continue;
    }
    if ((*c == '\'' && !q) || *c == '"') {
      q = q == *c ? 0 : q ? q : *c;
      sb_putc(&b, *c);
      continue;
    }
    if (*c != '$') {
      sb_putc(&b, *c);
      continue;
    }
    if (c[1] == '$') {
      sb_putc(&b, '\\');
      sb_putc(&b, '$');
      c++;
      continue;
    }
    int braced = c[1] == '{';
    const char *name = c + 1 + braced;
    size_t len = 0;
    if (var_start((unsigned char)name[0]))
      while (var_char((unsigned char)name[len]))
        len++;
    if (!len || (braced && name[len] != '}')) {
      snprintf(why, cap, "command: %s",
               c[1] == '(' ? "$(...) is command substitution, which ward does not run"
                           : "a '$' that starts no $NAME or ${NAME} (write $$ for a '$')");
      free(b.p);
      return -1;
    }
    const char *v = var_value(s, name, len);
    if (!v) {
      snprintf(why, cap,
               "command: $%.*s is not defined (not in the service's env or env_file, nor in "
               "the daemon's environment)",
               (int)len, name);
      free(b.p);
      return -1;
    }
    sb_put_value(&b, v, q == '"');
    c = name + len + braced - 1;
  }
  sb_putc(&b, 0); /* an empty command is still a string */
  if (b.bad) {
    free(b.p);
    snprintf(why, cap, "out of memory");
    return -1;
  }
  *out = b.p;
  return 0;
}
