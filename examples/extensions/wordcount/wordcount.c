/*
 * wordcount.c — an extension written in C with libward's worker API
 * (docs/extensions.md tells the whole example). It serves the one
 * command its manifest contributes, "count", reports progress per line,
 * and reads a setting from its host ("host.readSetting", which its
 * manifest asks for with the permission "settings.read").
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <ward.h>

static int count(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  ward_client *c = ud;
  json_t *params;
  if (ward_ctx_params_json(ctx, data, len, &params))
    return ward_ctx_fail(ctx, WARD_EPROTO, ward_last_error());
  const char *text = json_string_value(json_object_get(params, "text"));
  const char *unit = json_string_value(json_object_get(params, "unit"));
  int lines = unit && strcmp(unit, "lines") == 0;
  long n = 0;
  int in_word = 0;
  for (const char *p = text ? text : ""; *p; p++) {
    if (*p == '\n')
      ward_ctx_progress(ctx, "\"a line\"", 8);
    if (lines) {
      n += *p == '\n' || (!p[1] && *p != '\n');
      continue;
    }
    int space = *p == ' ' || *p == '\n' || *p == '\t';
    n += !space && !in_word;
    in_word = !space;
  }
  /* The host's setting, through the extension → host API. */
  ward_msg *setting = NULL;
  int rv = ward_client_request(&setting, c, "host.readSetting", "\"locale\"", 8, 5000);
  json_t *locale = rv ? NULL : json_loadb(ward_msg_data(setting), ward_msg_len(setting),
                                          JSON_DECODE_ANY, NULL);
  ward_msg_free(setting);
  json_t *reply = json_pack("{s:s, s:I, s:o}", "unit", lines ? "lines" : "words", "count",
                            (json_int_t)n, "locale", locale ? locale : json_null());
  json_decref(params);
  rv = ward_ctx_reply_json(ctx, reply);
  json_decref(reply);
  return rv;
}

int main(void) {
  ward_client *c;
  if (ward_client_connect(&c)) {
    fprintf(stderr, "wordcount: not started by a ward host: %s\n", ward_last_error());
    return 2;
  }
  ward_client_handle(c, "count", count, c);
  int rv = ward_client_run(c);
  ward_client_free(c);
  return rv == WARD_OK ? 0 : 1;
}
