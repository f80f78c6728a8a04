/*
 * schema.c — a command's params description, a small part of JSON Schema:
 * "type", "enum", "properties", "required", "additionalProperties",
 * "items", "minimum", "maximum", "minLength", "maxLength", "description"
 * (docs/extensions.md, "Params"). Written here on jansson: Debian has no
 * C library for JSON Schema, and this part is a page.
 *
 * A description is checked once, when its manifest loads, so that the
 * check of params at each call meets only well-formed ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext.h"

static const char *const types[] = {"object", "array",   "string", "integer",
                                    "number", "boolean", "null"};

static void one_line(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      *s = '?';
}

int ward__ext_refused(ward__ext_why *why) {
  one_line(why->path);
  one_line(why->reason);
  return WARD_EINVAL;
}

static int refuse(ward__ext_why *why, const char *path, const char *fmt, const char *a) {
  snprintf(why->path, sizeof why->path, "%s", path);
  snprintf(why->reason, sizeof why->reason, fmt, a);
  return ward__ext_refused(why);
}

static int type_known(const char *t) {
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strcmp(t, types[i]) == 0)
      return 1;
  return 0;
}

/* ------------------------------------------------------------------ */
/* The description                                                     */

static int check_at(const json_t *s, const char *path, int depth, ward__ext_why *why);

/* Keys that only make sense with one type. */
static int key_for(const char *key, const char *type) {
  static const struct {
    const char *key, *types;
  } only[] = {{"properties", "object"},   {"required", "object"},
              {"additionalProperties", "object"}, {"items", "array"},
              {"minimum", "integer number"}, {"maximum", "integer number"},
              {"minLength", "string"},     {"maxLength", "string"}};
  for (size_t i = 0; i < sizeof only / sizeof only[0]; i++)
    if (strcmp(key, only[i].key) == 0)
      return strstr(only[i].types, type) != NULL;
  return strcmp(key, "type") == 0 || strcmp(key, "enum") == 0 ||
         strcmp(key, "description") == 0 || strcmp(key, "title") == 0;
}

static int check_props(const json_t *props, const char *path, int depth, ward__ext_why *why) {
  char sub[256];
  if (!json_is_object(props))
    return refuse(why, path, "%s", "properties must be an object");
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)props, k, v) {
    snprintf(sub, sizeof sub, "%s.properties.%s", path, k);
    int rv = check_at(v, sub, depth + 1, why);
    if (rv)
      return rv;
  }
  return 0;
}

static int check_required(const json_t *req, const char *path, ward__ext_why *why) {
  if (!json_is_array(req))
    return refuse(why, path, "%s", "required must be an array of names");
  size_t i;
  json_t *v;
  json_array_foreach(req, i, v) if (!json_is_string(v))
      return refuse(why, path, "%s", "required must be an array of names");
  return 0;
}

static int check_number_key(const json_t *s, const char *key, const char *path,
                            ward__ext_why *why) {
  json_t *v = json_object_get(s, key);
  if (!v)
    return 0;
  int whole = strcmp(key, "minLength") == 0 || strcmp(key, "maxLength") == 0;
  if (whole ? !json_is_integer(v) || json_integer_value(v) < 0 : !json_is_number(v))
    return refuse(why, path, whole ? "%s must be a whole number >= 0" : "%s must be a number",
                  key);
  return 0;
}

static int check_at(const json_t *s, const char *path, int depth, ward__ext_why *why) {
  if (depth > WARD__EXT_MAX_DEPTH)
    return refuse(why, path, "%s", "nested too deep");
  if (!json_is_object(s))
    return refuse(why, path, "%s", "a description must be an object");
  const char *type = json_string_value(json_object_get(s, "type"));
  if (!type)
    return refuse(why, path, "%s", "\"type\" (a string) is required");
  if (!type_known(type))
    return refuse(why, path, "unknown type '%s' (object, array, string, integer, number, "
                             "boolean or null)", type);
  const char *k;
  json_t *v;
  char sub[256];
  json_object_foreach((json_t *)s, k, v) {
    snprintf(sub, sizeof sub, "%s.%s", path, k);
    if (strncmp(k, "x-", 2) != 0 && !key_for(k, type))
      return refuse(why, sub, "'%s' is not a key of this description (docs/extensions.md)", k);
  }
  json_t *e = json_object_get(s, "enum");
  if (e && (!json_is_array(e) || json_array_size(e) == 0))
    return refuse(why, path, "%s", "enum must be a non-empty array");
  json_t *p = json_object_get(s, "properties");
  int rv = 0;
  if (p)
    rv = check_props(p, path, depth, why);
  json_t *r = json_object_get(s, "required");
  if (!rv && r) {
    snprintf(sub, sizeof sub, "%s.required", path);
    rv = check_required(r, sub, why);
  }
  json_t *a = json_object_get(s, "additionalProperties");
  if (!rv && a && !json_is_boolean(a)) {
    snprintf(sub, sizeof sub, "%s.additionalProperties", path);
    rv = refuse(why, sub, "%s", "additionalProperties must be true or false");
  }
  json_t *it = json_object_get(s, "items");
  if (!rv && it) {
    snprintf(sub, sizeof sub, "%s.items", path);
    rv = check_at(it, sub, depth + 1, why);
  }
  static const char *const nums[] = {"minimum", "maximum", "minLength", "maxLength"};
  for (size_t i = 0; !rv && i < 4; i++)
    rv = check_number_key(s, nums[i], path, why);
  return rv;
}

int ward__schema_check(const json_t *schema, const char *path, ward__ext_why *why) {
  return check_at(schema, path, 0, why);
}

/* ------------------------------------------------------------------ */
/* Params against it                                                   */

static const char *type_of(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  default:
    return "null";
  }
}

static int type_matches(const char *type, const json_t *v) {
  if (strcmp(type, "object") == 0)
    return json_is_object(v);
  if (strcmp(type, "array") == 0)
    return json_is_array(v);
  if (strcmp(type, "string") == 0)
    return json_is_string(v);
  if (strcmp(type, "integer") == 0)
    return json_is_integer(v) ||
           (json_is_real(v) && json_real_value(v) >= -9e15 && json_real_value(v) <= 9e15 &&
            (double)(long long)json_real_value(v) == json_real_value(v));
  if (strcmp(type, "number") == 0)
    return json_is_number(v);
  if (strcmp(type, "boolean") == 0)
    return json_is_boolean(v);
  return json_is_null(v);
}

static int fail(ward__ext_why *why, const char *path, const char *reason) {
  snprintf(why->path, sizeof why->path, "%s", path);
  snprintf(why->reason, sizeof why->reason, "%s", reason);
  return ward__ext_refused(why);
}

static int validate_object(const json_t *s, const json_t *v, const char *path,
                           ward__ext_why *why);

static int validate_at(const json_t *s, const json_t *v, const char *path, ward__ext_why *why) {
  const char *type = json_string_value(json_object_get(s, "type"));
  char reason[512];
  if (!type_matches(type, v)) {
    snprintf(reason, sizeof reason, "expected %s %s, got %s",
             strchr("aeiou", type[0]) ? "an" : "a", type, type_of(v));
    return fail(why, path, reason);
  }
  json_t *e = json_object_get(s, "enum");
  if (e) {
    size_t i;
    json_t *x;
    int found = 0;
    json_array_foreach(e, i, x) found |= json_equal(x, (json_t *)v);
    if (!found) {
      char *list = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
      snprintf(reason, sizeof reason, "must be one of %s", list ? list : "the enum");
      free(list);
      return fail(why, path, reason);
    }
  }
  if (json_is_number(v)) {
    json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
    double d = json_number_value(v);
    if (mn && d < json_number_value(mn)) {
      snprintf(reason, sizeof reason, "must be at least %g", json_number_value(mn));
      return fail(why, path, reason);
    }
    if (mx && d > json_number_value(mx)) {
      snprintf(reason, sizeof reason, "must be at most %g", json_number_value(mx));
      return fail(why, path, reason);
    }
  }
  if (json_is_string(v)) {
    json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
    json_int_t n = (json_int_t)json_string_length(v);
    if ((mn && n < json_integer_value(mn)) || (mx && n > json_integer_value(mx))) {
      snprintf(reason, sizeof reason, "its length %lld is out of bounds", (long long)n);
      return fail(why, path, reason);
    }
  }
  if (json_is_array(v) && json_object_get(s, "items")) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      char sub[256];
      snprintf(sub, sizeof sub, "%s[%zu]", path, i);
      int rv = validate_at(json_object_get(s, "items"), x, sub, why);
      if (rv)
        return rv;
    }
  }
  if (json_is_object(v))
    return validate_object(s, v, path, why);
  return 0;
}

static int validate_object(const json_t *s, const json_t *v, const char *path,
                           ward__ext_why *why) {
  json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
  char sub[256], reason[512];
  size_t i;
  json_t *x;
  json_array_foreach(req, i, x) {
    if (!json_object_get(v, json_string_value(x))) {
      snprintf(sub, sizeof sub, "%s.%s", path, json_string_value(x));
      snprintf(reason, sizeof reason, "is required");
      return fail(why, sub, reason);
    }
  }
  int closed = json_is_false(json_object_get(s, "additionalProperties"));
  const char *k;
  json_object_foreach((json_t *)v, k, x) {
    snprintf(sub, sizeof sub, "%s.%s", path, k);
    json_t *ps = props ? json_object_get(props, k) : NULL;
    if (!ps) {
      if (closed)
        return fail(why, sub, "is not a parameter of this command");
      continue;
    }
    int rv = validate_at(ps, x, sub, why);
    if (rv)
      return rv;
  }
  return 0;
}

int ward__schema_validate(const json_t *schema, const json_t *v, const char *path,
                          ward__ext_why *why) {
  return validate_at(schema, v, path, why);
}
