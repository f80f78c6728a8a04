/*
 * replay.c — the main of a fuzz target built without libFuzzer: feeds it
 * every file named on the command line, and every file of every directory
 * named (in name order), once each. A directory that does not exist is
 * skipped: a target may have no regression inputs yet. Hidden files
 * (".name") are not inputs.
 *
 *   fuzz_frame tests/fuzz/corpus/frame tests/fuzz/regress/frame
 *
 * Exits 0 when every input went through (a broken invariant aborts).
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replayed;

static void replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    exit(1);
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap)
      buf = realloc(buf, cap *= 2);
  }
  if (!buf || ferror(f)) {
    fprintf(stderr, "replay: %s: cannot read\n", path);
    exit(1);
  }
  fclose(f);
  /* An exact-size copy, so that a read past the input is caught. */
  uint8_t *in = malloc(n ? n : 1);
  if (!in)
    exit(1);
  memcpy(in, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(in, n);
  free(in);
  replayed++;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static void replay_dir(const char *dir) {
  struct dirent **names;
  int n = scandir(dir, &names, NULL, by_name);
  if (n < 0) {
    if (errno == ENOENT)
      return;
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    exit(1);
  }
  for (int i = 0; i < n; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
    if (names[i]->d_name[0] == '.')
      ; /* hidden: not an input */
    else if (stat(path, &st) != 0) {
      fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
      exit(1);
    } else if (S_ISREG(st.st_mode))
      replay_file(path);
    free(names[i]);
  }
  free(names);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    /* Absolute, since a target may change its directory (fuzz_config). */
    char *path = realpath(argv[i], NULL);
    struct stat st;
    if (!path && errno != ENOENT) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      return 1;
    }
    if (path && stat(path, &st) == 0 && S_ISREG(st.st_mode))
      replay_file(path);
    else if (path)
      replay_dir(path);
    free(path);
  }
  printf("%s: %d inputs replayed\n", argv[0], replayed);
  if (replayed == 0) {
    fprintf(stderr, "%s: no inputs: is the corpus missing?\n", argv[0]);
    return 1;
  }
  return 0;
}
