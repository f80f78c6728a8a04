/*
 * host_logs.c — a worker's captured output and its data directory, across
 * a crash and a restart, with examples/notes_worker.c.
 *
 *   host_logs [path/to/notes_worker]
 *
 * The worker notes two texts in a file of its data directory, crashes,
 * and notes a third in its next process, which finds the file as it was.
 * Once stopped, its log ring holds the lines of both processes, the last
 * words before the crash among them; freeing the handle removes the data
 * directory. Exits 0 when everything happened as expected.
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Notes `text`; returns how many notes the worker's file holds, or -1. */
static int note(ward_worker *w, const char *text) {
  ward_msg *reply;
  int notes = -1;
  int rc = ward_request(&reply, w, "note", text, strlen(text), 10000);
  if (rc == WARD_OK) {
    char buf[32]; /* a reply is not NUL-terminated */
    snprintf(buf, sizeof buf, "%.*s", (int)ward_msg_len(reply),
             (const char *)ward_msg_data(reply));
    sscanf(buf, "%d", &notes);
    printf("note %s: %d note(s) kept\n", text, notes);
  } else {
    printf("note %s: %s\n", text, ward_err_name(rc));
  }
  ward_msg_free(reply);
  return notes;
}

/* Prints the lines matching `q`; returns how many. */
static size_t show(const ward_worker *w, const ward_log_query *q) {
  ward_log_line *lines;
  size_t n;
  if (ward_worker_logs(&lines, &n, w, q) != WARD_OK)
    return 0;
  for (size_t i = 0; i < n; i++)
    printf("  #%llu gen %u %s: %s\n", (unsigned long long)lines[i].seq,
           (unsigned)lines[i].generation,
           lines[i].stream == WARD_LOG_STDOUT ? "stdout" : "stderr", lines[i].text);
  ward_log_lines_free(lines, n);
  return n;
}

/* The worker next to this executable, unless a path is given. */
static int worker_path(char *out, size_t cap, int argc, char **argv) {
  if (argc > 1)
    return snprintf(out, cap, "%s", argv[1]) < (int)cap;
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  if (n <= 0)
    return 0;
  out[n] = 0;
  char *slash = strrchr(out, '/');
  return slash && snprintf(slash + 1, cap - (size_t)(slash + 1 - out), "notes_worker") > 0;
}

int main(int argc, char **argv) {
  char path[PATH_MAX];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!worker_path(path, sizeof path, argc, argv))
    return 1;
  ward_host *host;
  ward_spec *spec;
  ward_worker *w;
  if (ward_host_new(&host, NULL) != WARD_OK)
    return 1;
  int rc = ward_spec_new(&spec, "notes", path);
  if (rc == WARD_OK) {
    ward_spec_log_ring(spec, 64 * 1024); /* output is captured by default */
    rc = ward_spawn(&w, host, spec);
    ward_spec_free(spec);
  }
  if (rc != WARD_OK) {
    fprintf(stderr, "host_logs: %s\n", ward_last_error());
    ward_host_free(host);
    return 1;
  }
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", ward_worker_data_dir(w));
  struct stat st;
  int ok = stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700;
  printf("data directory: mode %o\n", (unsigned)(st.st_mode & 0777));

  ok &= note(w, "one") == 1;
  ok &= note(w, "two") == 2;
  rc = ward_request(NULL, w, "crash", "null", 4, 10000);
  printf("crash: %s\n", ward_err_name(rc));
  ok &= rc == WARD_ECRASHED;
  ok &= note(w, "three") == 3; /* waits for the new process: the file is still there */

  /* A stop drains the pipes before it returns: every line is in the ring. */
  ok &= ward_worker_stop(w, -1) == WARD_OK;
  printf("everything it wrote:\n");
  ok &= show(w, NULL) == 4;
  ward_log_query q = WARD_LOG_QUERY_INIT;
  q.streams = WARD_LOG_STDERR;
  q.last = 1;
  printf("its last line on stderr:\n");
  ok &= show(w, &q) == 1;

  ward_worker_free(w); /* removes the data directory */
  int gone = stat(dir, &st) != 0;
  printf("data directory after free: %s\n", gone ? "removed" : "still there");
  ok &= gone;
  ward_host_free(host);
  puts(ok ? "host_logs: everything happened as expected" : "host_logs: something went wrong");
  return ok ? 0 : 1;
}
