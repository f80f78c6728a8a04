/*
 * manifest.c — reading an extension's ward-extension.json, and refusing
 * it, with the JSON path and the reason, when it is not what
 * docs/extensions.md ("The manifest") specifies.
 *
 * Design notes
 * ------------
 * A manifest is someone else's file: every field is checked for its type
 * and form, unknown keys are refused (a misspelt "permisions" must not
 * silently ask for nothing), and the program must resolve, symbolic links
 * followed, to a file inside the extension's folder, so that a manifest
 * cannot point ward at a program elsewhere on the machine. Keys starting
 * with "x-" are left for other tools.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext.h"
#include "platform.h"
#include "ward_int.h"

static int refuse(ward__ext_why *why, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(ward__ext_why *why, const char *path, const char *fmt, ...) {
  snprintf(why->path, sizeof why->path, "%s", path);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why->reason, sizeof why->reason, fmt, ap);
  va_end(ap);
  return ward__ext_refused(why);
}

/* ------------------------------------------------------------------ */
/* Forms                                                               */

static int is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static int is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

/* Reverse-DNS: two labels or more, each of lowercase letters, digits and
 * inner hyphens. */
static int name_ok(const char *s) {
  size_t n = strlen(s), labels = 0;
  if (n == 0 || n > WARD__EXT_MAX_NAME)
    return 0;
  for (const char *p = s; *p;) {
    const char *start = p;
    while (is_lower_alnum(*p) || *p == '-')
      p++;
    if (p == start || *start == '-' || p[-1] == '-')
      return 0;
    labels++;
    if (*p == '.')
      p++;
    else if (*p)
      return 0;
    if (*p == 0 && p[-1] == '.')
      return 0;
  }
  return labels >= 2;
}

static int numeric_ok(const char *p, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (p[i] < '0' || p[i] > '9')
      return 0;
  return n == 1 || p[0] != '0';
}

/* Dot-separated identifiers of [0-9A-Za-z-], numeric ones without leading
 * zeros when `numeric_rule`. */
static int idents_ok(const char *p, size_t n, int numeric_rule) {
  size_t i = 0;
  while (i <= n) {
    size_t j = i;
    int all_digits = 1;
    while (j < n && p[j] != '.') {
      if (!is_alnum(p[j]) && p[j] != '-')
        return 0;
      all_digits &= p[j] >= '0' && p[j] <= '9';
      j++;
    }
    if (j == i)
      return 0;
    if (numeric_rule && all_digits && !numeric_ok(p + i, j - i))
      return 0;
    i = j + 1;
  }
  return 1;
}

/* Semantic Versioning 2.0.0: MAJOR.MINOR.PATCH[-PRE][+BUILD]. */
static int semver_ok(const char *s) {
  const char *p = s;
  for (int part = 0; part < 3; part++) {
    size_t n = strspn(p, "0123456789");
    if (!numeric_ok(p, n))
      return 0;
    p += n;
    if (part < 2 && *p++ != '.')
      return 0;
  }
  const char *plus = strchr(p, '+');
  size_t pre_end = plus ? (size_t)(plus - p) : strlen(p);
  if (*p == '-' && !idents_ok(p + 1, pre_end - 1, 1))
    return 0;
  if (*p && *p != '-' && *p != '+')
    return 0;
  if (plus && !idents_ok(plus + 1, strlen(plus + 1), 0))
    return 0;
  return 1;
}

static int cmd_id_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > WARD__EXT_MAX_NAME || !is_alnum(s[0]))
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_alnum(s[i]) && !strchr("._-", s[i]))
      return 0;
  return 1;
}

int ward__perm_name_ok(const char *p) {
  size_t n = p ? strlen(p) : 0;
  if (n == 0 || n > 255)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_alnum(p[i]) && !strchr(".:_-/", p[i]))
      return 0;
  return 1;
}

int ward__perm_builtin(const char *p) {
  if (strcmp(p, "network") == 0)
    return 1;
  if (strncmp(p, "fs.read:", 8) == 0)
    return p[8] == '/';
  if (strncmp(p, "fs.write:", 9) == 0)
    return p[9] == '/';
  return 0;
}

/* ------------------------------------------------------------------ */
/* Fields                                                              */

static const char *const top_keys[] = {"name",        "version",          "description",
                                       "protocol",    "program",          "args",
                                       "activationEvents", "contributions", "permissions"};

static int known_key(const char *k, const char *const *keys, size_t n) {
  if (strncmp(k, "x-", 2) == 0)
    return 1;
  for (size_t i = 0; i < n; i++)
    if (strcmp(k, keys[i]) == 0)
      return 1;
  return 0;
}

static int unknown_keys(const json_t *o, const char *path, const char *const *keys, size_t n,
                        ward__ext_why *why) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)o, k, v) {
    if (!known_key(k, keys, n)) {
      char sub[256];
      snprintf(sub, sizeof sub, "%s.%s", path, k);
      return refuse(why, sub, "unknown key '%s'", k);
    }
  }
  return 0;
}

/* A required string field. */
static int get_string(const json_t *o, const char *key, const char *path, char **out,
                      ward__ext_why *why) {
  char sub[256];
  snprintf(sub, sizeof sub, "%s.%s", path, key);
  json_t *v = json_object_get(o, key);
  if (!v)
    return refuse(why, sub, "missing (a string is required)");
  if (!json_is_string(v))
    return refuse(why, sub, "must be a string");
  if (!(*out = strdup(json_string_value(v))))
    return WARD_ENOMEM;
  return 0;
}

static int push(char ***v, size_t *n, const char *s) {
  char **nv = realloc(*v, (*n + 2) * sizeof *nv);
  if (!nv)
    return WARD_ENOMEM;
  *v = nv;
  if (!(nv[*n] = strdup(s)))
    return WARD_ENOMEM;
  nv[++*n] = NULL;
  return 0;
}

/* An optional array of strings, each passing `ok` (NULL: any), unique
 * when `unique`. */
static int get_strings(const json_t *o, const char *key, char ***out, size_t *n,
                       int (*ok)(const char *), int unique, const char *what,
                       ward__ext_why *why) {
  json_t *a = json_object_get(o, key);
  char sub[256];
  if (!a)
    return 0;
  if (!json_is_array(a)) {
    snprintf(sub, sizeof sub, "$.%s", key);
    return refuse(why, sub, "must be an array of strings");
  }
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    snprintf(sub, sizeof sub, "$.%s[%zu]", key, i);
    if (!json_is_string(v))
      return refuse(why, sub, "must be a string");
    const char *s = json_string_value(v);
    if (ok && !ok(s))
      return refuse(why, sub, "'%s' is not %s", s, what);
    for (size_t j = 0; unique && j < *n; j++)
      if (strcmp((*out)[j], s) == 0)
        return refuse(why, sub, "'%s' is listed twice", s);
    int rv = push(out, n, s);
    if (rv)
      return rv;
  }
  return 0;
}

static int get_program(ward__manifest *m, const json_t *o, const char *folder,
                       ward__ext_why *why) {
  char *rel = NULL;
  int rv = get_string(o, "program", "$", &rel, why);
  if (rv)
    return rv;
  char *real_dir = NULL, *real = NULL, *full = NULL;
  if (!*rel || rel[0] == '/') {
    rv = refuse(why, "$.program", "'%s' must be a path relative to the extension's folder", rel);
    goto out;
  }
  if ((rv = ward__path_real(folder, &real_dir)) != 0)
    goto out;
  size_t n = strlen(real_dir) + strlen(rel) + 2;
  if (!(full = malloc(n))) {
    rv = WARD_ENOMEM;
    goto out;
  }
  snprintf(full, n, "%s/%s", real_dir, rel);
  if (ward__path_real(full, &real) != 0) {
    rv = refuse(why, "$.program", "'%s' does not exist in the extension's folder", rel);
    goto out;
  }
  size_t dl = strlen(real_dir);
  if (strncmp(real, real_dir, dl) != 0 || real[dl] != '/') {
    rv = refuse(why, "$.program", "'%s' leads out of the extension's folder (to %s)", rel, real);
    goto out;
  }
  int kind = ward__path_kind(real);
  if (kind != WARD__PATH_EXEC) {
    rv = refuse(why, "$.program", "'%s' is not an executable file", rel);
    goto out;
  }
  m->program = real;
  real = NULL;
out:
  free(rel);
  free(real_dir);
  free(real);
  free(full);
  return rv;
}

static int get_command(ward__ext_cmd *c, const json_t *o, const char *path,
                       ward__ext_why *why) {
  static const char *const keys[] = {"id", "title", "params"};
  if (!json_is_object(o))
    return refuse(why, path, "a command must be an object");
  int rv = unknown_keys(o, path, keys, 3, why);
  if (!rv)
    rv = get_string(o, "id", path, &c->id, why);
  if (!rv && !cmd_id_ok(c->id)) {
    char sub[256];
    snprintf(sub, sizeof sub, "%s.id", path);
    rv = refuse(why, sub, "'%s' is not a command id (letters, digits, '.', '_', '-'; up to %d)",
                c->id, WARD__EXT_MAX_NAME);
  }
  if (!rv)
    rv = get_string(o, "title", path, &c->title, why);
  json_t *p = json_object_get(o, "params");
  if (!rv && p) {
    char sub[256];
    snprintf(sub, sizeof sub, "%s.params", path);
    rv = ward__schema_check(p, sub, why);
    if (!rv && strcmp(json_string_value(json_object_get(p, "type")), "object") != 0)
      rv = refuse(why, sub, "the params of a command are an object: its type must be \"object\"");
    if (!rv)
      c->params = json_incref(p);
  }
  return rv;
}

static int get_contributions(ward__manifest *m, const json_t *o, ward__ext_why *why) {
  static const char *const keys[] = {"commands"};
  json_t *c = json_object_get(o, "contributions");
  if (!c)
    return 0;
  if (!json_is_object(c))
    return refuse(why, "$.contributions", "must be an object");
  int rv = unknown_keys(c, "$.contributions", keys, 1, why);
  json_t *cmds = json_object_get(c, "commands");
  if (rv || !cmds)
    return rv;
  if (!json_is_array(cmds))
    return refuse(why, "$.contributions.commands", "must be an array of commands");
  m->cmds = calloc(json_array_size(cmds) + 1, sizeof *m->cmds);
  if (!m->cmds)
    return WARD_ENOMEM;
  size_t i;
  json_t *v;
  json_array_foreach(cmds, i, v) {
    char path[128];
    snprintf(path, sizeof path, "$.contributions.commands[%zu]", i);
    rv = get_command(&m->cmds[m->ncmds++], v, path, why);
    if (rv)
      return rv;
    for (size_t j = 0; j + 1 < m->ncmds; j++)
      if (strcmp(m->cmds[j].id, m->cmds[i].id) == 0) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s.id", path);
        return refuse(why, sub, "command '%s' is contributed twice", m->cmds[i].id);
      }
  }
  return 0;
}

static int get_activation(ward__manifest *m, const json_t *o, ward__ext_why *why) {
  json_t *a = json_object_get(o, "activationEvents");
  if (!a)
    return 0;
  if (!json_is_array(a))
    return refuse(why, "$.activationEvents", "must be an array of strings");
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    char sub[64];
    snprintf(sub, sizeof sub, "$.activationEvents[%zu]", i);
    const char *s = json_string_value(v);
    if (!s)
      return refuse(why, sub, "must be a string");
    if (strcmp(s, "onStartup") == 0) {
      m->on_startup = 1;
      continue;
    }
    if (strncmp(s, "onCommand:", 10) != 0)
      return refuse(why, sub, "'%s' is not an activation event (onStartup, onCommand:ID)", s);
    int found = 0;
    for (size_t j = 0; j < m->ncmds && !found; j++)
      found = strcmp(m->cmds[j].id, s + 10) == 0;
    if (!found)
      return refuse(why, sub, "'%s' names no contributed command", s);
  }
  return 0;
}

static int get_permissions(ward__manifest *m, const json_t *o, ward__perm_known known, void *ud,
                           ward__ext_why *why) {
  int rv = get_strings(o, "permissions", &m->perms, &m->nperms, ward__perm_name_ok, 1,
                       "a permission name", why);
  for (size_t i = 0; !rv && i < m->nperms; i++)
    if (!ward__perm_builtin(m->perms[i]) && !(known && known(m->perms[i], ud))) {
      char sub[64];
      snprintf(sub, sizeof sub, "$.permissions[%zu]", i);
      rv = refuse(why, sub, "unknown permission '%s'", m->perms[i]);
    }
  return rv;
}

static int get_fields(ward__manifest *m, const json_t *o, const char *folder,
                      ward__perm_known known, void *ud, ward__ext_why *why) {
  if (!json_is_object(o))
    return refuse(why, "$", "a manifest is a JSON object");
  int rv = get_string(o, "name", "$", &m->name, why);
  if (!rv && !name_ok(m->name))
    rv = refuse(why, "$.name", "'%s' is not a reverse-DNS name (two or more labels of "
                               "lowercase letters, digits and inner '-', up to %d bytes)",
                m->name, WARD__EXT_MAX_NAME);
  if (!rv)
    rv = unknown_keys(o, "$", top_keys, sizeof top_keys / sizeof top_keys[0], why);
  if (!rv)
    rv = get_string(o, "version", "$", &m->version, why);
  if (!rv && !semver_ok(m->version))
    rv = refuse(why, "$.version", "'%s' is not a semantic version (MAJOR.MINOR.PATCH)",
                m->version);
  json_t *d = json_object_get(o, "description");
  if (!rv && d && !json_is_string(d))
    rv = refuse(why, "$.description", "must be a string");
  json_t *p = json_object_get(o, "protocol");
  if (!rv && !p)
    rv = refuse(why, "$.protocol", "missing (the ward protocol version, %d)",
                WARD_PROTOCOL_VERSION);
  if (!rv && !json_is_integer(p))
    rv = refuse(why, "$.protocol", "must be an integer");
  if (!rv && json_integer_value(p) != WARD_PROTOCOL_VERSION)
    rv = refuse(why, "$.protocol", "speaks protocol %lld; this host speaks %d",
                (long long)json_integer_value(p), WARD_PROTOCOL_VERSION);
  if (!rv)
    m->protocol = (int)json_integer_value(p);
  if (!rv)
    rv = get_program(m, o, folder, why);
  if (!rv)
    rv = get_strings(o, "args", &m->args, &m->nargs, NULL, 0, "", why);
  if (!rv)
    rv = get_contributions(m, o, why);
  if (!rv)
    rv = get_activation(m, o, why);
  if (!rv)
    rv = get_permissions(m, o, known, ud, why);
  return rv;
}

int ward__manifest_load(ward__manifest *m, const char *folder, ward__perm_known known, void *ud,
                        ward__ext_why *why) {
  memset(m, 0, sizeof *m);
  memset(why, 0, sizeof *why);
  char file[4096];
  snprintf(file, sizeof file, "%s/%s", folder, WARD_EXT_MANIFEST);
  if (ward__path_kind(file) != WARD__PATH_FILE && ward__path_kind(file) != WARD__PATH_EXEC)
    return refuse(why, "$", "no %s in this folder", WARD_EXT_MANIFEST);
  json_error_t err;
  json_t *o = json_load_file(file, JSON_REJECT_DUPLICATES, &err);
  if (!o)
    return refuse(why, "$", "not JSON: line %d, column %d: %s", err.line, err.column, err.text);
  int rv = get_fields(m, o, folder, known, ud, why);
  json_decref(o);
  return rv;
}

void ward__manifest_free(ward__manifest *m) {
  free(m->name);
  free(m->version);
  free(m->program);
  for (size_t i = 0; i < m->nargs; i++)
    free(m->args[i]);
  free(m->args);
  for (size_t i = 0; i < m->ncmds; i++) {
    free(m->cmds[i].id);
    free(m->cmds[i].title);
    json_decref(m->cmds[i].params);
  }
  free(m->cmds);
  for (size_t i = 0; i < m->nperms; i++)
    free(m->perms[i]);
  free(m->perms);
  memset(m, 0, sizeof *m);
}
