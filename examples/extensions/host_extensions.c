/*
 * host_extensions.c — a program that loads extensions (docs/extensions.md).
 *
 *   host_extensions [FOLDER]
 *
 * FOLDER holds extension folders (default: "extensions" beside this
 * program, where the build lays out the two of examples/extensions/: a
 * word counter in C and a greeter in Python). The program offers two host
 * methods, each behind a permission, scans the folder, lists what it
 * found, and runs one command of each extension: the word counter asked
 * for "settings.read" and reads a setting; the greeter asked for
 * "ui.message" alone, so its host.readSetting is refused. It exits 0 when
 * all of that went as said.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <ward.h>

static int show_message(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  printf("  [host] message from %s: %.*s\n", ward_worker_name(ward_ctx_worker(ctx)), (int)len,
         (const char *)data);
  return ward_ctx_reply(ctx, "true", 4);
}

static int read_setting(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)data, (void)len, (void)ud;
  return ward_ctx_reply(ctx, "\"en_GB\"", 7);
}

static void on_event(const ward_ext_event *ev, void *ud) {
  (void)ud;
  printf("  [event] %s %s%s%s\n", ward_ext_event_name(ev->type), ev->ext ? ev->ext : "",
         ev->detail ? ": " : "", ev->detail ? ev->detail : "");
}

static void on_progress(const void *data, size_t len, void *ud) {
  (void)ud;
  printf("  [progress] %.*s\n", (int)len, (const char *)data);
}

/* Runs `command`; returns its reply as JSON (NULL on failure, said). */
static json_t *run(ward_ext_host *eh, const char *command, const char *params) {
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 20000;
  o.on_progress = on_progress;
  ward_msg *r;
  printf("$ %s %s\n", command, params);
  int rv = ward_ext_command(&r, eh, command, params, strlen(params), &o);
  if (rv) {
    printf("  failed: %s: %s\n", ward_err_name(rv), ward_last_error());
    ward_msg_free(r);
    return NULL;
  }
  printf("  reply: %.*s\n", (int)ward_msg_len(r), (const char *)ward_msg_data(r));
  json_t *v = json_loadb(ward_msg_data(r), ward_msg_len(r), 0, NULL);
  ward_msg_free(r);
  return v;
}

static void list(ward_ext_host *eh) {
  ward_ext_info **l;
  size_t n;
  if (ward_ext_list(&l, &n, eh))
    return;
  for (size_t i = 0; i < n; i++)
    printf("  %-24s %-8s %-9s pid %-7d denied %llu\n", l[i]->name, l[i]->version,
           ward_ext_state_name(l[i]->state), l[i]->pid, (unsigned long long)l[i]->denied);
  ward_ext_list_free(l, n);
}

int main(int argc, char **argv) {
  char dflt[4096];
  snprintf(dflt, sizeof dflt, "%s", argv[0]);
  char folder[4200];
  snprintf(folder, sizeof folder, "%s/extensions", dirname(dflt));
  const char *folders[] = {argc > 1 ? argv[1] : folder};

  ward_ext_host_opts o = WARD_EXT_HOST_OPTS_INIT;
  o.on_event = on_event;
  ward_ext_host *eh;
  if (ward_ext_host_new(&eh, &o)) {
    fprintf(stderr, "host_extensions: %s\n", ward_last_error());
    return 1;
  }
  /* Host methods first: their permissions are then known to the scan. */
  ward_ext_host_method(eh, "host.showMessage", "ui.message", show_message, NULL);
  ward_ext_host_method(eh, "host.readSetting", "settings.read", read_setting, NULL);
  size_t loaded = 0;
  ward_ext_host_scan(eh, folders, 1, &loaded);
  printf("loaded %zu extensions from %s:\n", loaded, folders[0]);
  list(eh);

  json_t *count = run(eh, "org.example.wordcount/count",
                      "{\"text\": \"one two three\\nfour five\"}");
  json_t *greet = run(eh, "greet", "{\"name\": \"Ada\"}");
  json_t *bad = run(eh, "greet", "{\"name\": 42}"); /* refused before sending */

  printf("after the calls:\n");
  list(eh);
  int ok = loaded == 2 && count && json_integer_value(json_object_get(count, "count")) == 5 &&
           json_is_string(json_object_get(count, "locale")) && greet &&
           json_is_true(json_object_get(greet, "shown")) &&
           strncmp(json_string_value(json_object_get(greet, "setting")), "refused (-16)", 13) ==
               0 &&
           !bad;
  json_decref(count);
  json_decref(greet);
  ward_ext_host_free(eh);
  printf("%s\n", ok ? "all as expected" : "NOT as expected");
  return ok ? 0 : 1;
}
