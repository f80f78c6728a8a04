/*
 * test_ext_cli.c — `ward ext` (its path is argv[1]): list, check and call
 * on extensions laid out here (a manifest and a script running the
 * Python extension of examples/extensions/greeter, and refused ones),
 * their exit codes, what goes to stdout and to stderr, and --json.
 */
#include <jansson.h>
#include <sys/stat.h>

#include "test.h"
#include "trun.h"

static char root[64];

static void write_file(const char *dir, const char *name, const char *text, int mode) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  T_TRUE(f != NULL);
  T_TRUE(fputs(text, f) >= 0);
  T_TRUE(fclose(f) == 0);
  T_TRUE(chmod(path, (mode_t)mode) == 0);
}

/* ROOT/greeter: the example's Python extension, its manifest as it is;
 * ROOT/broken: a manifest that is not JSON. */
static void lay_out(void) {
  snprintf(root, sizeof root, "/tmp/ward-extcli-XXXXXX");
  T_TRUE(mkdtemp(root) != NULL);
  char dir[256], cmd[1200];
  snprintf(dir, sizeof dir, "%s/greeter", root);
  T_TRUE(mkdir(dir, 0755) == 0);
  snprintf(cmd, sizeof cmd, "cp -p '%s/examples/extensions/greeter/'* '%s/'", WARD_SOURCE_DIR,
           dir);
  T_TRUE(system(cmd) == 0);
  snprintf(dir, sizeof dir, "%s/broken", root);
  T_TRUE(mkdir(dir, 0755) == 0);
  write_file(dir, "ward-extension.json", "{\"name\": \"org.example.broken\",", 0644);
}

static void test_list(void) {
  run_result r;
  RUN(&r, "ext", "list", root);
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strstr(r.out, "org.example.greeter") && strstr(r.out, "inactive") &&
                 strstr(r.out, "greet") && strstr(r.out, "ui.message"));
  EXPECT(&r, strstr(r.out, "invalid") != NULL);
  EXPECT(&r, strstr(r.err, "broken/ward-extension.json: $: not JSON") != NULL);
  run_result_free(&r);

  RUN(&r, "ext", "list", "--json", root);
  EXPECT(&r, r.code == 0);
  json_t *v = json_loads(r.out, 0, NULL);
  EXPECT(&r, json_is_array(v) && json_array_size(v) == 2);
  json_t *broken = json_array_get(v, 0), *greeter = json_array_get(v, 1);
  EXPECT(&r, json_is_false(json_object_get(broken, "valid")));
  EXPECT(&r, json_is_true(json_object_get(greeter, "valid")));
  EXPECT(&r, strcmp(json_string_value(json_object_get(greeter, "version")), "0.3.1") == 0);
  json_decref(v);
  run_result_free(&r);
}

static void test_check(void) {
  char dir[256];
  run_result r;
  snprintf(dir, sizeof dir, "%s/greeter", root);
  RUN(&r, "ext", "check", dir);
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  snprintf(dir, sizeof dir, "%s/broken", root);
  RUN(&r, "ext", "check", dir);
  EXPECT(&r, r.code == 1 && strstr(r.err, "not JSON"));
  run_result_free(&r);
  /* The source tree's wordcount folder lacks its built program. */
  snprintf(dir, sizeof dir, "%s/examples/extensions/wordcount", WARD_SOURCE_DIR);
  RUN(&r, "ext", "check", dir);
  EXPECT(&r, r.code == 1 && strstr(r.err, "$.program: 'wordcount' does not exist"));
  run_result_free(&r);
  RUN(&r, "ext", "check", root, root);
  EXPECT(&r, r.code == 2);
  run_result_free(&r);
}

static void test_call(void) {
  run_result r;
  RUN(&r, "ext", "call", root, "greet", "{\"name\": \"Ada\"}");
  EXPECT(&r, r.code == 0 && strstr(r.out, "\"greeting\": \"Hello, Ada!\""));
  run_result_free(&r);
  RUN(&r, "ext", "call", "--json", root, "org.example.greeter/greet", "{\"name\": \"Bo\"}");
  EXPECT(&r, r.code == 0);
  json_t *v = json_loads(r.out, 0, NULL);
  EXPECT(&r, json_is_true(json_object_get(v, "ok")));
  json_t *reply = json_object_get(v, "reply");
  EXPECT(&r, strcmp(json_string_value(json_object_get(reply, "greeting")), "Hello, Bo!") == 0);
  json_decref(v);
  run_result_free(&r);
  /* Params checked before anything is sent: exit 1, the parameter named. */
  RUN(&r, "ext", "call", root, "greet", "{\"name\": 1}");
  EXPECT(&r, r.code == 1 && strstr(r.err, "params.name expected a string"));
  run_result_free(&r);
  RUN(&r, "ext", "call", root, "nosuch");
  EXPECT(&r, r.code == 4 && strstr(r.err, "no extension contributes the command 'nosuch'"));
  run_result_free(&r);
  RUN(&r, "ext", "call", root);
  EXPECT(&r, r.code == 2);
  run_result_free(&r);
  RUN(&r, "ext", "frob");
  EXPECT(&r, r.code == 2);
  run_result_free(&r);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_ext_cli PATH_TO_WARD\n");
    return 2;
  }
  ward_bin = argv[1];
  lay_out();
  T_RUN(test_list);
  T_RUN(test_check);
  T_RUN(test_call);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  T_TRUE(system(cmd) == 0);
  return t_done();
}
