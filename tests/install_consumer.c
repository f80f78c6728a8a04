/*
 * install_consumer.c — a program outside the tree, built by install_test.sh
 * against an installed ward (pkg-config and find_package). It uses only the
 * public header, so it fails to build if ward.h, the library or the package
 * files are not installed where they say they are.
 */
#include <ward.h>

#include <stdio.h>

int main(void) {
  ward_host *host = NULL;
  ward_spec *spec = NULL;

  int rc = ward_host_new(&host, NULL);
  if (rc != WARD_OK) {
    fprintf(stderr, "ward_host_new: %s\n", ward_strerror(rc));
    return 1;
  }
  rc = ward_spec_new(&spec, "consumer", "/bin/true");
  if (rc != WARD_OK) {
    fprintf(stderr, "ward_spec_new: %s\n", ward_strerror(rc));
    ward_host_free(host);
    return 1;
  }
  ward_spec_free(spec);
  ward_host_free(host);

  printf("ward %s\n", ward_version_string());
  return ward_strerror(WARD_ETIMEDOUT)[0] != '\0' ? 0 : 1;
}
