/*
 * test_ext_manifest.c — manifests: every kind of malformed one is refused
 * with its file, JSON path and reason while the others load; the list
 * reports both; params descriptions are checked when loaded.
 */
#include <unistd.h>

#include "text.h"

/* One scan of a root holding a good extension and `bad` (its manifest as
 * text, or made by `make` when it needs more than a manifest): the bad
 * one is refused at `path` with a reason holding `reason`, the good one
 * loads. */
static void refused(const char *bad_text, const char *path, const char *reason) {
  char *bad = strdup(bad_text); /* tx_manifest's buffer is used again below */
  T_TRUE(bad != NULL);
  tx_new_root();
  tx_ext("good", tx_manifest("org.example.good", TX_GOOD_CMDS, NULL), "good");
  tx_ext("bad", bad, "good");
  free(bad);
  ward_ext_host *eh = tx_host(0);
  const char *folders[] = {tx_root};
  size_t loaded = 99;
  T_OK(ward_ext_host_scan(eh, folders, 1, &loaded));
  T_EQ_INT((int)loaded, 1);
  T_EQ_INT(tx_count_events(WARD_EXT_EV_REFUSED, NULL), 1);
  tx_ev e = tx_wait(WARD_EXT_EV_REFUSED, NULL);
  char file[600];
  snprintf(file, sizeof file, "%s/bad/ward-extension.json", tx_root);
  T_EQ_STR(e.file, file);
  T_EQ_STR(e.path, path);
  if (!strstr(e.detail, reason))
    T_FAIL("refusal at %s says \"%s\", not \"%s\"", e.path, e.detail, reason);
  ward_ext_info **list;
  size_t n;
  T_OK(ward_ext_list(&list, &n, eh));
  T_EQ_INT((int)n, 2);
  int invalid = 0, inactive = 0;
  for (size_t i = 0; i < n; i++) {
    invalid += list[i]->state == WARD_EXT_INVALID && strstr(list[i]->last_error, reason);
    inactive += list[i]->state == WARD_EXT_INACTIVE &&
                strcmp(list[i]->name, "org.example.good") == 0 && list[i]->ncommands == 7;
  }
  T_EQ_INT(invalid, 1);
  T_EQ_INT(inactive, 1);
  ward_ext_list_free(list, n);
  ward_ext_host_free(eh);
  tx_rm_root();
}

static void test_bad_json(void) {
  refused("{\"name\": \"org.example.bad\", ", "$", "not JSON");
  refused("{\"name\": \"a.b\", \"name\": \"a.c\"}", "$", "not JSON");
  refused("[1, 2]", "$", "a manifest is a JSON object");
}

static void test_missing_field(void) {
  refused("{\"name\": \"org.example.bad\", \"protocol\": 1, \"program\": \"run.sh\"}",
          "$.version", "missing");
  refused("{\"name\": \"org.example.bad\", \"version\": \"1.0.0\", \"program\": \"run.sh\"}",
          "$.protocol", "missing");
  refused(tx_manifest("org.example.bad", "[{\"id\": \"x\"}]", NULL),
          "$.contributions.commands[0].title", "missing");
}

static void test_wrong_type(void) {
  refused("{\"name\": \"org.example.bad\", \"version\": \"1.0.0\", \"protocol\": \"1\", "
          "\"program\": \"run.sh\"}",
          "$.protocol", "must be an integer");
  refused(tx_manifest("org.example.bad", "{}", NULL), "$.contributions.commands",
          "must be an array");
  refused(tx_manifest("org.example.bad", "[]", "\"permissions\": \"network\""),
          "$.permissions", "must be an array of strings");
  refused(tx_manifest("org.example.bad", "[]", "\"args\": [1]"), "$.args[0]",
          "must be a string");
}

static void test_bad_forms(void) {
  refused(tx_manifest("Example", "[]", NULL), "$.name", "not a reverse-DNS name");
  refused(tx_manifest("org..bad", "[]", NULL), "$.name", "not a reverse-DNS name");
  refused("{\"name\": \"org.example.bad\", \"version\": \"1.0\", \"protocol\": 1, "
          "\"program\": \"run.sh\"}",
          "$.version", "not a semantic version");
  refused("{\"name\": \"org.example.bad\", \"version\": \"01.0.0\", \"protocol\": 1, "
          "\"program\": \"run.sh\"}",
          "$.version", "not a semantic version");
  refused("{\"name\": \"org.example.bad\", \"version\": \"1.0.0\", \"protocol\": 2, "
          "\"program\": \"run.sh\"}",
          "$.protocol", "speaks protocol 2");
  refused(tx_manifest("org.example.bad", "[]", "\"permisions\": []"), "$.permisions",
          "unknown key");
  refused(tx_manifest("org.example.bad", "[{\"id\": \"a/b\", \"title\": \"t\"}]", NULL),
          "$.contributions.commands[0].id", "not a command id");
  refused(tx_manifest("org.example.bad", "[{\"id\": \"a\", \"title\": \"t\"}]",
                      "\"activationEvents\": [\"onCommand:b\"]"),
          "$.activationEvents[0]", "names no contributed command");
  refused(tx_manifest("org.example.bad", "[]", "\"activationEvents\": [\"onBoot\"]"),
          "$.activationEvents[0]", "not an activation event");
}

static void test_duplicates(void) {
  refused(tx_manifest("org.example.bad",
                      "[{\"id\": \"a\", \"title\": \"t\"}, {\"id\": \"a\", \"title\": \"u\"}]",
                      NULL),
          "$.contributions.commands[1].id", "contributed twice");
  /* The same name as the good one: "bad" sorts before "good", so the
   * good folder is the second and is refused. */
  tx_new_root();
  tx_ext("a", tx_manifest("org.example.same", "[]", NULL), "good");
  tx_ext("b", tx_manifest("org.example.same", "[]", NULL), "good");
  ward_ext_host *eh = tx_host(0);
  const char *folders[] = {tx_root};
  size_t loaded;
  T_OK(ward_ext_host_scan(eh, folders, 1, &loaded));
  T_EQ_INT((int)loaded, 1);
  tx_ev e = tx_wait(WARD_EXT_EV_REFUSED, "org.example.same");
  T_EQ_STR(e.path, "$.name");
  T_TRUE(strstr(e.detail, "loaded already") != NULL);
  T_TRUE(strstr(e.file, "/b/ward-extension.json") != NULL);
  ward_ext_host_free(eh);
  tx_rm_root();
  refused(tx_manifest("org.example.bad", "[]", "\"permissions\": [\"network\", \"network\"]"),
          "$.permissions[1]", "listed twice");
}

static void test_program_escapes(void) {
  refused("{\"name\": \"org.example.bad\", \"version\": \"1.0.0\", \"protocol\": 1, "
          "\"program\": \"../good/run.sh\"}",
          "$.program", "leads out of the extension's folder");
  refused("{\"name\": \"org.example.bad\", \"version\": \"1.0.0\", \"protocol\": 1, "
          "\"program\": \"/bin/sh\"}",
          "$.program", "must be a path relative");
  refused("{\"name\": \"org.example.bad\", \"version\": \"1.0.0\", \"protocol\": 1, "
          "\"program\": \"nothere\"}",
          "$.program", "does not exist");
  /* Through a symbolic link inside the folder. */
  tx_new_root();
  tx_ext("good", tx_manifest("org.example.good", TX_GOOD_CMDS, NULL), "good");
  tx_ext("bad", "{\"name\": \"org.example.bad\", \"version\": \"1.0.0\", \"protocol\": 1, "
                "\"program\": \"link\"}", "good");
  char link[600];
  snprintf(link, sizeof link, "%s/bad/link", tx_root);
  T_TRUE(symlink("/bin/sh", link) == 0);
  ward_ext_host *eh = tx_host(0);
  const char *folders[] = {tx_root};
  size_t loaded;
  T_OK(ward_ext_host_scan(eh, folders, 1, &loaded));
  T_EQ_INT((int)loaded, 1);
  tx_ev e = tx_wait(WARD_EXT_EV_REFUSED, "org.example.bad");
  T_EQ_STR(e.path, "$.program");
  T_TRUE(strstr(e.detail, "leads out of the extension's folder") != NULL);
  ward_ext_host_free(eh);
  tx_rm_root();
}

static void test_unknown_permission(void) {
  refused(tx_manifest("org.example.bad", "[]", "\"permissions\": [\"camera\"]"),
          "$.permissions[0]", "unknown permission 'camera'");
  refused(tx_manifest("org.example.bad", "[]", "\"permissions\": [\"fs.read:relative\"]"),
          "$.permissions[0]", "unknown permission");
}

static void test_bad_params_description(void) {
  refused(tx_manifest("org.example.bad",
                      "[{\"id\": \"a\", \"title\": \"t\", \"params\": {\"type\": \"thing\"}}]",
                      NULL),
          "$.contributions.commands[0].params", "unknown type 'thing'");
  refused(tx_manifest("org.example.bad",
                      "[{\"id\": \"a\", \"title\": \"t\", \"params\": {\"type\": \"object\", "
                      "\"properties\": {\"n\": {\"type\": \"integer\", \"items\": {}}}}}]",
                      NULL),
          "$.contributions.commands[0].params.properties.n.items", "not a key");
  refused(tx_manifest("org.example.bad",
                      "[{\"id\": \"a\", \"title\": \"t\", \"params\": {\"type\": \"string\"}}]",
                      NULL),
          "$.contributions.commands[0].params", "its type must be \"object\"");
}

/* A permission the program registered is known to later scans. */
static int noop(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  return ward_ctx_reply(ctx, "null", 4);
}

static void test_registered_permission_is_known(void) {
  tx_new_root();
  tx_ext("cam", tx_manifest("org.example.cam", "[]", "\"permissions\": [\"camera\"]"), "good");
  ward_ext_host *eh = tx_host(0);
  T_OK(ward_ext_host_method(eh, "host.photo", "camera", noop, NULL));
  T_ERR(ward_ext_host_method(eh, "host.x", "bad perm", noop, NULL), WARD_EINVAL);
  const char *folders[] = {tx_root};
  size_t loaded;
  T_OK(ward_ext_host_scan(eh, folders, 1, &loaded));
  T_EQ_INT((int)loaded, 1);
  ward_ext_host_free(eh);
  tx_rm_root();
}

/* Misuse gets WARD_EINVAL, never a crash. */
static void test_misuse(void) {
  ward_ext_host *eh = NULL;
  ward_ext_host_opts zero = {0};
  T_ERR(ward_ext_host_new(&eh, &zero), WARD_EINVAL);
  T_TRUE(eh == NULL);
  T_ERR(ward_ext_host_new(NULL, NULL), WARD_EINVAL);
  T_OK(ward_ext_host_new(&eh, NULL));
  T_ERR(ward_ext_host_scan(NULL, NULL, 0, NULL), WARD_EINVAL);
  T_ERR(ward_ext_host_scan(eh, NULL, 1, NULL), WARD_EINVAL);
  const char *none[] = {"/nonexistent/ward-test"};
  size_t loaded = 9;
  T_OK(ward_ext_host_scan(eh, none, 1, &loaded)); /* a folder with nothing: refused */
  T_EQ_INT((int)loaded, 0);
  T_ERR(ward_ext_command(NULL, eh, NULL, NULL, 0, NULL), WARD_EINVAL);
  T_ERR(ward_ext_command(NULL, eh, "x", NULL, 3, NULL), WARD_EINVAL);
  T_ERR(ward_ext_command(NULL, eh, "x", NULL, 0, NULL), WARD_ENOMETHOD);
  T_ERR(ward_ext_host_method(eh, "", NULL, noop, NULL), WARD_EINVAL);
  T_ERR(ward_ext_host_method(eh, "m", NULL, NULL, NULL), WARD_EINVAL);
  T_ERR(ward_ext_host_permission(eh, ""), WARD_EINVAL);
  T_ERR(ward_ext_list(NULL, NULL, eh), WARD_EINVAL);
  T_EQ_STR(ward_ext_state_name(99), "unknown");
  T_EQ_STR(ward_ext_event_name(0), "unknown");
  T_EQ_STR(ward_ext_event_name(WARD_EXT_EV_DENIED), "denied");
  ward_ext_host_free(eh);
  ward_ext_host_free(NULL);
  ward_ext_list_free(NULL, 0);
}

int main(int argc, char **argv) {
  int status;
  (void)argc;
  if (tx_main(argv[0], &status))
    return status;
  T_RUN(test_bad_json);
  T_RUN(test_missing_field);
  T_RUN(test_wrong_type);
  T_RUN(test_bad_forms);
  T_RUN(test_duplicates);
  T_RUN(test_program_escapes);
  T_RUN(test_unknown_permission);
  T_RUN(test_bad_params_description);
  T_RUN(test_registered_permission_is_known);
  T_RUN(test_misuse);
  return t_done();
}
