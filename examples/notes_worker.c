/*
 * notes_worker.c — a worker that keeps files in its data directory and
 * prints as it goes; examples/host_logs.c starts it.
 *
 * Methods:
 *   note   appends the request's text to notes.txt in the worker's data
 *          directory ($WARD_DATA_DIR, kept across restarts), prints it on
 *          stdout, and replies how many notes the file holds
 *   crash  says so on stderr, then calls abort()
 */
#include <ward.h>

#include <stdio.h>
#include <stdlib.h>

static int on_note(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  const char *dir = ud;
  char path[4096], reply[32];
  snprintf(path, sizeof path, "%s/notes.txt", dir);
  FILE *f = fopen(path, "a+");
  if (!f)
    return ward_ctx_fail(ctx, 1, "cannot open notes.txt");
  fprintf(f, "%.*s\n", (int)len, (const char *)data);
  rewind(f);
  int notes = 0, c;
  while ((c = fgetc(f)) != EOF)
    notes += c == '\n';
  fclose(f);
  printf("noted %.*s\n", (int)len, (const char *)data); /* stdout: captured by the host */
  int n = snprintf(reply, sizeof reply, "%d", notes);
  return ward_ctx_reply(ctx, reply, (size_t)n);
}

static int on_crash(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ctx, (void)data, (void)len, (void)ud;
  fprintf(stderr, "about to crash\n"); /* its last words: stderr is unbuffered */
  abort();
}

int main(void) {
  /* stdout is a pipe to the host: without this, stdio would hold whole
   * blocks back (and lose them in a crash). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *dir = getenv("WARD_DATA_DIR"); /* private, kept across restarts */
  ward_client *c;
  if (!dir || ward_client_connect(&c) != WARD_OK)
    return 2;
  ward_client_handle(c, "note", on_note, (void *)dir);
  ward_client_handle(c, "crash", on_crash, NULL);
  int rc = ward_client_run(c);
  ward_client_free(c);
  return rc == WARD_OK ? 0 : 1;
}
