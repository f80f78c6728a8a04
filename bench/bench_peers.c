/*
 * bench_peers.c — ward against what programs in other runtimes use to talk
 * to a child process, in the same run and the same mode:
 *   Node    child_process.fork IPC, json serialization (peers/node_ipc.js)
 *   Python  multiprocessing.Pipe to a multiprocessing.Process (peers/py_pipe.py)
 *
 * Figures, in both modes (the interpreters are started from a thread
 * pinned to CPU 0, or not, like ward's host and worker):
 *   round trip   of a 32-byte payload (ward_request to an echoing worker),
 *                us per round trip
 *   msg/s        one-way messages of 32 bytes (ward_notify), ended by a
 *                request for the count the other side saw
 * and a worker written in Node with ward's package (bindings/node, driven
 * by peers/node_worker.js) beside child_process.fork, same payloads:
 *   round trip   a 32-character string, JSON, echoed
 *   rows/s       one call whose handler sends N rows of that string (ward:
 *                ctx.row within the host's default window; fork: N
 *                messages from the child to the parent)
 * The peers' scripts make the same number of repetitions, each preceded by
 * one warm-up run, and print one value per repetition. A peer whose
 * interpreter is missing is skipped, with a note.
 *
 * And ward's Python worker (the `ward` package of bindings/python,
 * peers/py_worker.py) beside multiprocessing.Pipe, with the same 32-byte
 * payloads:
 *   round trip   this C host calling the Python worker (ward_request), and
 *                a Python host calling it (ward.host, peers/py_ward.py),
 *                against a Pipe round trip between two Python processes
 *   rows/s       rows of 32 bytes the Python worker streams in one call
 *                (ctx.row), to this host and to the Python host, against
 *                as many Pipe messages from the child to the parent
 *                (py_pipe.py rows)
 * The Python host finds libward beside this program's directory
 * (../libward.so, the build's) unless WARD_LIBRARY says where.
 *
 * The scripts are found in WARD_BENCH_PEERS if set, else in peers/ beside
 * this source file; the package in bindings/python beside bench/.
 *
 * Usage: bench_peers [--quick] [--reps N] [--json FILE]
 */
#include "bench.h"

#define PAYLOAD 32


static const bench_method methods[] = {{"echo", bench_m_echo}, {"n", bench_m_note}, {"count", bench_m_count}};

static double ward_rtt_us(ward_worker *w, int n) {
  char buf[PAYLOAD];
  memset(buf, 'w', sizeof buf);
  int64_t t0 = now_ns();
  for (int i = 0; i < n; i++)
    if (ward_request(NULL, w, "echo", buf, PAYLOAD, 10000))
      die("ward_request");
  return (double)(now_ns() - t0) / 1e3 / n;
}


/* ------------------------------------------------------------------ */
/* Peers                                                               */

typedef struct peer {
  const char *name;   /* for the table */
  const char *interp; /* program looked up in PATH */
  const char *script; /* in the peers directory */
  const char *check;  /* a -c / -e snippet that must succeed, or NULL */
  char path[4200];    /* the interpreter found, "" when missing */
  char file[4400];    /* the script */
} peer;

static peer peers[] = {
    {"node child_process.fork", "node", "node_ipc.js", NULL, "", ""},
    {"python multiprocessing.Pipe", "python3", "py_pipe.py", "import multiprocessing", "", ""},
};
#define NPEERS ((int)(sizeof peers / sizeof peers[0]))
#define PY_PIPE 1 /* peers[PY_PIPE] */

/* The Python side of ward: its worker, started by this host, and a
 * Python host calling it (path "" when missing). */
static peer py_worker = {"python worker (ward package)", "python3", "py_worker.py",
                         "import ward", "", ""};
static peer py_host = {"python host (ward.host) + python worker", "python3", "py_ward.py",
                       "import ward.host, ctypes; ward.host._load(None)", "", ""};
static char py_path[4200]; /* PYTHONPATH with the package */

static void peer_find(peer *p, const char *dir);

static void peers_find(void) {
  char dir[4096];
  /* CMake compiles with the absolute path of the source file. */
  const char *src = __FILE__;
  const char *slash = strrchr(src, '/');
  int srclen = slash ? (int)(slash - src) : 1;
  if (!slash)
    src = ".";
  const char *env = getenv("WARD_BENCH_PEERS");
  if (env && *env)
    snprintf(dir, sizeof dir, "%s", env);
  else
    snprintf(dir, sizeof dir, "%.*s/peers", srclen, src);
  /* The package beside bench/, and the build's libward for the Python
   * host: both handed down through the environment. */
  const char *pp = getenv("PYTHONPATH");
  snprintf(py_path, sizeof py_path, "%.*s/../bindings/python%s%s", srclen, src,
           pp && *pp ? ":" : "", pp && *pp ? pp : "");
  setenv("PYTHONPATH", py_path, 1);
  if (!getenv("WARD_LIBRARY")) {
    char lib[4200];
    const char *s2 = strrchr(B.self, '/');
    snprintf(lib, sizeof lib, "%.*s/../libward.so", s2 ? (int)(s2 - B.self) : 1,
             s2 ? B.self : ".");
    if (access(lib, R_OK) == 0)
      setenv("WARD_LIBRARY", lib, 1);
  }
  peer_find(&py_worker, dir);
  peer_find(&py_host, dir);
  for (int i = 0; i < NPEERS; i++)
    peer_find(&peers[i], dir);
}

static void peer_find(peer *p, const char *dir) {
  {
    snprintf(p->file, sizeof p->file, "%s/%s", dir, p->script);
    if (!bench_which(p->interp, p->path, sizeof p->path)) {
      bench_note("%s skipped: %s is not installed", p->name, p->interp);
      p->path[0] = 0;
      return;
    }
    if (access(p->file, R_OK) != 0) {
      bench_note("%s skipped: no script %s (set WARD_BENCH_PEERS)", p->name, p->file);
      p->path[0] = 0;
      return;
    }
    if (p->check) {
      char out[256];
      char *argv[] = {p->path, "-c", (char *)p->check, NULL};
      int st = bench_capture(argv, "/dev/null", out, sizeof out, 60);
      if (st != 0) {
        bench_note("%s skipped: `%s -c \"%s\"` failed", p->name, p->interp, p->check);
        p->path[0] = 0;
      }
    }
  }
}

/* Runs a peer's script; fills v[0..reps) and returns 1, or 0 with a note. */
static int peer_run(peer *p, const char *what, int reps, int n, double *v) {
  char sreps[16], sn[16];
  snprintf(sreps, sizeof sreps, "%d", reps);
  snprintf(sn, sizeof sn, "%d", n);
  char *argv[] = {p->path, p->file, (char *)what, sreps, sn, NULL};
  char out[4096];
  int st = bench_capture(argv, NULL, out, sizeof out, 240);
  int got = 0;
  for (char *line = strtok(out, "\n"); line && got < reps; line = strtok(NULL, "\n"))
    if (sscanf(line, "%lf", &v[got]) == 1)
      got++;
  if (st != 0 || got != reps) {
    bench_note("%s %s failed (status %d, %d values of %d)", p->name, what, st, got, reps);
    return 0;
  }
  return 1;
}

/* ------------------------------------------------------------------ */
/* ward's Python worker, called from this host                         */

static void count_row(const char *stream, uint64_t seq, const void *d, size_t n, void *ud) {
  (void)stream, (void)seq, (void)d, (void)n;
  (*(uint64_t *)ud)++;
}

/* One call of `method` whose worker streams `n` rows: rows per second. */
static double ward_py_rows(ward_worker *w, const char *method, int n) {
  char arg[16];
  int len = snprintf(arg, sizeof arg, "%d", n);
  uint64_t got = 0;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 60000;
  o.encoding = WARD_ENC_RAW;
  o.on_row = count_row;
  o.ud = &got;
  int64_t t0 = now_ns();
  if (ward_request_ex(NULL, w, method, arg, (size_t)len, &o))
    die("ward_request %s", method);
  double rate = n / ((double)(now_ns() - t0) / 1e9);
  if (got != (uint64_t)n)
    die("%llu rows of %d", (unsigned long long)got, n);
  return rate;
}

/* The Python worker's figures in this mode: round trips and rows/s, with
 * this host and with the Python host, beside multiprocessing.Pipe's. */
static void run_python(const bench_mode *mode, int nrt, int nrows) {
  if (!py_worker.path[0])
    return;
  double wr[BENCH_MAXREPS], wrows[BENCH_MAXREPS], wbatch[BENCH_MAXREPS];
  ward_host *h;
  if (ward_host_new(&h, NULL))
    die("ward_host_new");
  ward_spec *s;
  if (ward_spec_new(&s, "py-bench", py_worker.path) || ward_spec_arg(s, py_worker.file) ||
      ward_spec_env(s, "PYTHONPATH", py_path))
    die("ward_spec_new");
  ward_worker *w;
  if (ward_spawn(&w, h, s))
    die("ward_spawn of the Python worker");
  ward_spec_free(s);
  ward_rtt_us(w, nrt);
  ward_py_rows(w, "rows", nrows);
  ward_py_rows(w, "batch", nrows);
  for (int i = 0; i < B.reps; i++) {
    wr[i] = ward_rtt_us(w, nrt);
    wrows[i] = ward_py_rows(w, "rows", nrows);
    wbatch[i] = ward_py_rows(w, "batch", nrows);
  }
  ward_host_free(h);

  double hr[BENCH_MAXREPS], hrows[BENCH_MAXREPS], pr[BENCH_MAXREPS], prows[BENCH_MAXREPS];
  int okh = py_host.path[0] && peer_run(&py_host, "rtt", B.reps, nrt, hr);
  int okhr = py_host.path[0] && peer_run(&py_host, "rows", B.reps, nrows, hrows);
  peer *pipe = &peers[PY_PIPE];
  int okp = pipe->path[0] && peer_run(pipe, "rtt", B.reps, nrt, pr);
  int okpr = pipe->path[0] && peer_run(pipe, "rows", B.reps, nrows, prows);

  char sec[160];
  snprintf(sec, sizeof sec, "python: round trip, %d-byte payload, %s: %d reps x %d", PAYLOAD,
           mode->label, B.reps, nrt);
  int base = okp ? row_add(sec, "multiprocessing.Pipe", "us", pr, B.reps) : -1;
  int r = row_add(sec, "ward: C host, py worker", "us", wr, B.reps);
  if (base >= 0)
    row_vs(r, base);
  if (okh) {
    r = row_add(sec, "ward: py host, py worker", "us", hr, B.reps);
    if (base >= 0)
      row_vs(r, base);
  }
  snprintf(sec, sizeof sec, "python: %d-byte rows from the child, %s: %d reps x %d", PAYLOAD,
           mode->label, B.reps, nrows);
  base = okpr ? row_add(sec, "multiprocessing.Pipe", "rows/s", prows, B.reps)
              : -1;
  r = row_add(sec, "ward: C host, py worker", "rows/s", wrows, B.reps);
  if (base >= 0)
    row_vs(r, base);
  r = row_add(sec, "ward: C host, ctx.rows", "rows/s", wbatch, B.reps);
  if (base >= 0)
    row_vs(r, base);
  if (okhr) {
    r = row_add(sec, "ward: py host, py worker", "rows/s", hrows, B.reps);
    if (base >= 0)
      row_vs(r, base);
  }
}

/* ------------------------------------------------------------------ */
/* A Node worker with ward's package (peers/node_worker.js)            */

/* The JSON of the 32-character string node_ipc.js sends. */
static const char node_payload[] = "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"";

static double node_rtt_us(ward_worker *w, int n) {
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 30000;
  int64_t t0 = now_ns();
  for (int i = 0; i < n; i++)
    if (ward_request_ex(NULL, w, "echo", node_payload, sizeof node_payload - 1, &o))
      die("ward_request to the Node worker");
  return (double)(now_ns() - t0) / 1e3 / n;
}

static double node_rows_per_s(ward_worker *w, int n) {
  uint64_t rows = 0;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 120000;
  o.on_row = count_row;
  o.ud = &rows;
  char params[48];
  snprintf(params, sizeof params, "{\"n\": %d}", n);
  int64_t t0 = now_ns();
  if (ward_request_ex(NULL, w, "rows", params, strlen(params), &o) || rows != (uint64_t)n)
    die("rows from the Node worker");
  return n / ((double)(now_ns() - t0) / 1e9);
}

/* The Node worker beside child_process.fork (peers[0]), if Node is here. */
static void run_node_worker(const bench_mode *mode, int nrt, int nrows, const double *fork_rt,
                            int fork_rt_ok) {
  peer *node = &peers[0];
  if (!node->path[0])
    return;
  char script[4400];
  snprintf(script, sizeof script, "%.*s/node_worker.js",
           (int)(strrchr(node->file, '/') - node->file), node->file);
  if (access(script, R_OK) != 0) {
    bench_note("the Node worker skipped: no script %s", script);
    return;
  }
  double fr[BENCH_MAXREPS];
  int fork_rows_ok = peer_run(node, "rows", B.reps, nrows, fr);
  ward_host *h;
  if (ward_host_new(&h, NULL))
    die("ward_host_new");
  ward_spec *s;
  if (ward_spec_new(&s, "node-worker", node->path) || ward_spec_arg(s, script))
    die("ward_spec_new");
  ward_worker *w;
  if (ward_spawn(&w, h, s)) {
    bench_note("the Node worker did not start: %s", ward_last_error());
    ward_spec_free(s);
    ward_host_free(h);
    return;
  }
  ward_spec_free(s);
  double wr[BENCH_MAXREPS], wrows[BENCH_MAXREPS];
  node_rtt_us(w, nrt); /* warm-up (and JIT) */
  node_rows_per_s(w, nrows);
  for (int i = 0; i < B.reps; i++) {
    wr[i] = node_rtt_us(w, nrt);
    wrows[i] = node_rows_per_s(w, nrows);
  }
  ward_host_free(h);
  char sec_rt[160], sec_rows[160];
  snprintf(sec_rt, sizeof sec_rt, "peers: Node worker (bindings/node), round trip, %s: %d reps x %d",
           mode->label, B.reps, nrt);
  snprintf(sec_rows, sizeof sec_rows, "peers: Node worker (bindings/node), rows, %s: %d reps x %d",
           mode->label, B.reps, nrows);
  int a = row_add(sec_rt, "ward host -> Node ward worker", "us", wr, B.reps);
  if (fork_rt_ok)
    row_vs(row_add(sec_rt, "node child_process.fork", "us", fork_rt, B.reps), a);
  a = row_add(sec_rows, "Node ward worker -> ward host", "rows/s", wrows, B.reps);
  if (fork_rows_ok)
    row_vs(row_add(sec_rows, "node child_process.fork", "rows/s", fr, B.reps), a);
}

/* ------------------------------------------------------------------ */

static void run_mode(const bench_mode *mode) {
  bench_set_mode(mode);
  int nrt = B.quick ? 200 : mode->pinned ? 5000 : 2000, nmsg = B.quick ? 1000 : 50000;
  ward_host *h;
  if (ward_host_new(&h, NULL))
    die("ward_host_new");
  ward_spec *s = bench_spec("peers", "--ward-child");
  ward_worker *w;
  if (ward_spawn(&w, h, s))
    die("ward_spawn");
  ward_spec_free(s);
  double wr[BENCH_MAXREPS], wm[BENCH_MAXREPS];
  ward_rtt_us(w, nrt);
  bench_ward_notes(w, nmsg, PAYLOAD);
  for (int i = 0; i < B.reps; i++) {
    wr[i] = ward_rtt_us(w, nrt);
    wm[i] = bench_ward_notes(w, nmsg, PAYLOAD);
  }
  ward_host_free(h);

  char sec_rt[160], sec_msg[160];
  snprintf(sec_rt, sizeof sec_rt, "peers: round trip, %d-byte payload, %s: %d reps x %d",
           PAYLOAD, mode->label, B.reps, nrt);
  snprintf(sec_msg, sizeof sec_msg, "peers: one-way %d-byte messages, %s: %d reps x %d",
           PAYLOAD, mode->label, B.reps, nmsg);
  double pr[NPEERS][BENCH_MAXREPS], pm[NPEERS][BENCH_MAXREPS];
  int okr[NPEERS] = {0}, okm[NPEERS] = {0};
  for (int k = 0; k < NPEERS; k++) {
    if (!peers[k].path[0])
      continue;
    okr[k] = peer_run(&peers[k], "rtt", B.reps, nrt, pr[k]);
    okm[k] = peer_run(&peers[k], "stream", B.reps, nmsg, pm[k]);
  }
  int a = row_add(sec_rt, "ward_request", "us", wr, B.reps);
  for (int k = 0; k < NPEERS; k++) {
    if (!okr[k])
      continue;
    int r = row_add(sec_rt, peers[k].name, "us", pr[k], B.reps);
    row_vs(r, a);
    row_target(r, T_RATIO_GE, 2.5, ">= 2.5x ward's");
  }
  a = row_add(sec_msg, "ward_notify", "msg/s", wm, B.reps);
  for (int k = 0; k < NPEERS; k++)
    if (okm[k])
      row_vs(row_add(sec_msg, peers[k].name, "msg/s", pm[k], B.reps), a);
  run_python(mode, nrt, B.quick ? 1000 : 50000);
  run_node_worker(mode, nrt, B.quick ? 1000 : 50000, pr[0], okr[0]);
  bench_set_mode(NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return bench_ward_child(methods, sizeof methods / sizeof methods[0]);
  bench_init("peers", argc, argv);
  bench_title("against Node and Python IPC with a child process");
  peers_find();
  for (int m = 0; m < bench_nmodes(); m++)
    run_mode(&bench_modes[m]);
  bench_note("peer round trips are shown as peer / ward: the target is ward >= 2.5x faster; "
             "Node sends {t, d} objects as JSON, Python pickles a 32-byte bytes object");
  bench_note("python: ward's Python worker (and host) against multiprocessing.Pipe: "
             "round trips as ward / Pipe (under 1 is faster), rows/s as ward / Pipe "
             "(over 1 is faster)");
  bench_note("the Node worker's rows: fork / ward worker; its round trip: fork / ward worker "
             "(a ratio over 1: the ward worker is faster)");
  bench_report();
  return 0;
}
