/*
 * test_sandbox.c — ward_spec_sandbox and the restrictions it puts on a
 * worker (ward.h, "The sandbox"; docs/extensions.md).
 */
#include "tevents.h"
#include "tworker.h"

#include "sandbox.h"
#include "spec.h"

static ward_host *host;

/* What the spec keeps, and what it refuses. */
static void test_spec_checks(void) {
  ward_spec *s = tw_spec("sb", "serve");
  ward_sandbox sb = WARD_SANDBOX_INIT;
  T_ERR(ward_spec_sandbox(NULL, &sb), WARD_EINVAL);
  ward_sandbox zero;
  memset(&zero, 0, sizeof zero);
  T_ERR(ward_spec_sandbox(s, &zero), WARD_EINVAL);
  T_TRUE(strstr(ward_last_error(), "WARD_SANDBOX_INIT") != NULL);
  sb.namespaces = 1 << 20;
  T_ERR(ward_spec_sandbox(s, &sb), WARD_EINVAL);
  sb.namespaces = 0;
  sb.permissions = 1u << 30;
  T_ERR(ward_spec_sandbox(s, &sb), WARD_EINVAL);
  sb.permissions = WARD_PERMIT_NETWORK;
  const char *rel[] = {"/usr/share", "relative/dir", NULL};
  sb.read_paths = rel;
  T_ERR(ward_spec_sandbox(s, &sb), WARD_EINVAL);
  T_TRUE(strstr(ward_last_error(), "relative/dir") != NULL);
  T_TRUE(s->sandbox == NULL);
  /* Kept as a copy: the caller's strings may go. */
  char path[] = "/opt/ext";
  const char *rd[] = {path, NULL};
  sb.read_paths = rd;
  T_OK(ward_spec_sandbox(s, &sb));
  path[1] = 'X';
  T_EQ_STR(s->sandbox->o.read_paths[0], "/opt/ext");
  T_TRUE(s->sandbox->o.write_paths && !s->sandbox->o.write_paths[0]);
  T_EQ_INT(s->sandbox->o.permissions, WARD_PERMIT_NETWORK);
  ward_spec *d = ward__spec_dup(s);
  T_TRUE(d && d->sandbox && d->sandbox != s->sandbox);
  T_EQ_STR(d->sandbox->o.read_paths[0], "/opt/ext");
  ward_spec_free(d);
  T_OK(ward_spec_sandbox(s, NULL));
  T_TRUE(s->sandbox == NULL);
  ward_spec_free(s);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  host = tev_host();
  T_RUN(test_spec_checks);
  ward_host_free(host);
  return t_done();
}
