/*
 * bench_payload.c — round-trip time against payload size, 32 B to 64 MiB:
 * ward through the socket, ward with payloads in shared memory (copied in,
 * and built in place), and a raw socketpair copying the same bytes, in
 * the same run (api.md 6.4, protocol.md 3.5).
 *
 * Each value is one repetition: the mean of several echo round trips of
 * one size, in microseconds.
 *   raw       the parent writes [u64 size][payload] on a socketpair; the
 *             child reads it whole into a buffer it keeps and writes it
 *             back; the parent reads it into a buffer it keeps.
 *   socket    ward_request("echo") to a worker whose spec turns payloads
 *             in shared memory off (ward_spec_zerocopy 0): the bytes go
 *             through the socket both ways.
 *   copied    to a worker that takes payloads in shared memory from 4 KiB
 *             on: the buffer copied into a fresh payload (ward_payload_new,
 *             memcpy), sent with ward_request_payload, the worker's echo
 *             passing the mapping it got back, the reply freed. What it
 *             would cost ward to send an ordinary buffer in shared memory.
 *   in place  the same, timed from the send to the reply freed: a payload
 *             built in place, which the program fills instead of a buffer
 *             of its own (making and filling it is the program's work, as
 *             the other contenders' buffers are made before their timing).
 * Under 4 KiB (the floor of ward_spec_zerocopy) payloads are plain memory
 * and go through the socket. The ratios are to the raw loop of that size.
 *
 * Usage: bench_payload [--quick] [--reps N] [--json FILE]
 */
#include "bench.h"
#ifdef __linux__
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

#define KIB 1024u
#define MIB (1024u * 1024u)

static const bench_method methods[] = {{"echo", bench_m_echo}};

/* Sealed memfds: the linux backend's alone (docs/platforms.md). */
static int shm_here(void) { return strcmp(WARD__BACKEND_NAME, "linux") == 0; }

static int raw_echo(bench_fd fd) {
  char *buf = NULL;
  size_t cap = 0;
  for (;;) {
    uint64_t n;
    if (!read_full(fd, &n, sizeof n)) {
      free(buf);
      return 0;
    }
    if (n > cap) {
      free(buf);
      if (!(buf = malloc(n)))
        die("malloc");
      cap = n;
    }
    read_full(fd, buf, n);
    write_full(fd, buf, n);
  }
}

/* Microseconds per round trip. */
static double raw_rt(bench_fd fd, const char *out, char *in, size_t size, int iters) {
  uint64_t n = size;
  int64_t t0 = now_ns();
  for (int i = 0; i < iters; i++) {
    write_full(fd, &n, sizeof n);
    write_full(fd, out, size);
    read_full(fd, in, size);
  }
  return (double)(now_ns() - t0) / 1e3 / iters;
}

static const ward_call_opts *raw_opts(void) {
  static ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 120000;
  o.encoding = WARD_ENC_RAW;
  return &o;
}

static void check(ward_msg *m, size_t size) {
  if (ward_msg_len(m) != size)
    die("echo of %zu bytes came back with %zu", size, ward_msg_len(m));
  ward_msg_free(m);
}

static double ward_rt(ward_worker *w, const char *out, size_t size, int iters) {
  int64_t t0 = now_ns();
  for (int i = 0; i < iters; i++) {
    ward_msg *m;
    if (ward_request_ex(&m, w, "echo", out, size, raw_opts()))
      die("ward_request of %zu bytes: %s", size, ward_last_error());
    check(m, size);
  }
  return (double)(now_ns() - t0) / 1e3 / iters;
}

/* The round trip of payloads built in place, copied from `out`; *copied
 * gets the time with the making and copying. */
static double in_place_rt(ward_worker *w, const char *out, size_t size, int iters,
                          double *copied) {
  int64_t rt = 0, mk = 0;
  for (int i = 0; i < iters; i++) {
    int64_t t0 = now_ns();
    ward_payload *p;
    if (ward_payload_new(&p, size))
      die("ward_payload_new of %zu bytes: %s", size, ward_last_error());
    memcpy(ward_payload_data(p), out, size);
    int64_t t1 = now_ns();
    ward_msg *m;
    if (ward_request_payload(&m, w, "echo", p, raw_opts()))
      die("ward_request_payload of %zu bytes: %s", size, ward_last_error());
    check(m, size);
    int64_t t2 = now_ns();
    mk += t1 - t0;
    rt += t2 - t1;
  }
  *copied = (double)(mk + rt) / 1e3 / iters;
  return (double)rt / 1e3 / iters;
}

#ifdef __linux__
/* What the kernel's part of a payload in shared memory costs for `size`
 * bytes, in microseconds, done by hand on a memfd filled as a payload is:
 * unmapping the writer's mapping (which sealing requires), adding
 * F_SEAL_WRITE (the kernel checks the pages for pins), and the last close
 * (the pages freed). */
static void kernel_costs(size_t size, double *unmap, double *seal, double *last) {
  int fd = memfd_create("bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
    die("memfd_create");
  char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED)
    die("mmap");
  memset(m, 'k', size);
  int64_t t0 = now_ns();
  munmap(m, size);
  int64_t t1 = now_ns();
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) < 0)
    die("F_ADD_SEALS");
  int64_t t2 = now_ns();
  close(fd);
  int64_t t3 = now_ns();
  *unmap = (double)(t1 - t0) / 1e3;
  *seal = (double)(t2 - t1) / 1e3;
  *last = (double)(t3 - t2) / 1e3;
}

static void kernel_rows(const char *label, size_t size, const char *sz) {
  double u[BENCH_MAXREPS], s[BENCH_MAXREPS], l[BENCH_MAXREPS];
  for (int i = 0; i < B.reps; i++)
    kernel_costs(size, &u[i], &s[i], &l[i]);
  char sec[160], name[64];
  snprintf(sec, sizeof sec, "the kernel's part of a payload of %s in shared memory, %s", sz,
           label);
  snprintf(name, sizeof name, "munmap of the writer, %s", sz);
  row_add(sec, name, "us", u, B.reps);
  snprintf(name, sizeof name, "F_SEAL_WRITE, %s", sz);
  row_add(sec, name, "us", s, B.reps);
  snprintf(name, sizeof name, "pages freed, %s", sz);
  row_add(sec, name, "us", l, B.reps);
}
#endif

static ward_worker *spawn(ward_host *h, uint32_t zmin) {
  ward_spec *s = bench_spec("payload", "--ward-child");
  ward_worker *w;
  if (ward_spec_zerocopy(s, zmin) || ward_spawn(&w, h, s))
    die("ward_spawn");
  ward_spec_free(s);
  return w;
}

static const char *size_text(size_t n, char *buf, size_t cap) {
  if (n >= MIB)
    snprintf(buf, cap, "%zu MiB", n / MIB);
  else if (n >= KIB)
    snprintf(buf, cap, "%zu KiB", n / KIB);
  else
    snprintf(buf, cap, "%zu B", n);
  return buf;
}

/* Enough round trips of `size` for a repetition to take some milliseconds
 * (the raw loop moves a few GB/s here). */
static int iters_for(size_t size) {
  if (B.quick)
    return 1;
  size_t n = (size_t)(256 * MIB) / (size + 4096);
  return n < 3 ? 3 : n > 2000 ? 2000 : (int)n;
}

static void run_mode(const bench_mode *mode, const size_t *sizes, int nsizes) {
  bench_set_mode(mode);
  ward_host *h;
  if (ward_host_new(&h, NULL))
    die("ward_host_new");
  ward_worker *sock = spawn(h, 0), *shm = spawn(h, 4096);
  bench_fd fd;
  bench_pid pid = raw_spawn("--raw-echo", &fd);
  size_t max = sizes[nsizes - 1];
  char *out = malloc(max), *in = malloc(max);
  if (!out || !in)
    die("malloc");
  memset(out, 'b', max);
  memset(in, 0, max);
  for (int k = 0; k < nsizes; k++) {
    size_t size = sizes[k];
    int iters = iters_for(size);
    double copied;
    /* Warm-up: buffers faulted in on every side. */
    raw_rt(fd, out, in, size, 1);
    ward_rt(sock, out, size, 1);
    in_place_rt(shm, out, size, 1, &copied);
    double r[BENCH_MAXREPS], s[BENCH_MAXREPS], c[BENCH_MAXREPS], p[BENCH_MAXREPS];
    for (int i = 0; i < B.reps; i++) {
      r[i] = raw_rt(fd, out, in, size, iters);
      s[i] = ward_rt(sock, out, size, iters);
      p[i] = in_place_rt(shm, out, size, iters, &c[i]);
    }
    char sz[32], sec[160], name[64];
    size_text(size, sz, sizeof sz);
    snprintf(sec, sizeof sec, "echo round trip of %s, %s: %d reps x %d", sz, mode->label,
             B.reps, iters);
    snprintf(name, sizeof name, "raw " BENCH_RAW_CHANNEL ", %s", sz);
    int a = row_add(sec, name, "us", r, B.reps);
    snprintf(name, sizeof name, "ward, socket, %s", sz);
    row_vs(row_add(sec, name, "us", s, B.reps), a);
    snprintf(name, sizeof name, "ward, copied, %s", sz);
    row_vs(row_add(sec, name, "us", c, B.reps), a);
    snprintf(name, sizeof name, "ward, in place, %s", sz);
    int b = row_add(sec, name, "us", p, B.reps);
    row_vs(b, a);
    if (size == 64 * MIB && shm_here())
      row_target(b, T_MED_LE, 1000, "< 1 ms");
#ifdef __linux__
    if (size >= MIB && mode == &bench_modes[0] && shm_here())
      kernel_rows(mode->label, size, sz);
#endif
  }
  free(out);
  free(in);
  raw_reap(pid, fd);
  ward_host_free(h);
  bench_set_mode(NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return bench_ward_child(methods, 1);
  if (argc > 1 && strcmp(argv[1], "--raw-echo") == 0)
    return raw_echo(raw_child_end(argc > 2 ? argv[2] : NULL));
  bench_init("payload", argc, argv);
  bench_title("round trip against payload size: socket, shared memory, raw " BENCH_RAW_CHANNEL);
  static const size_t full[] = {32,      1 * KIB, 32 * KIB, 256 * KIB,
                                1 * MIB, 8 * MIB, 64 * MIB};
  static const size_t quick[] = {32, 32 * KIB, 4 * MIB};
  for (int m = 0; m < bench_nmodes(); m++)
    run_mode(&bench_modes[m], B.quick ? quick : full,
             B.quick ? (int)(sizeof quick / sizeof *quick) : (int)(sizeof full / sizeof *full));
  if (!shm_here())
    bench_note("this backend has no sealed memfds: every ward row goes through the socket");
  bench_note("under 4 KiB every ward row goes through the socket (ward_spec_zerocopy's floor)");
  bench_note("copied: ward_payload_new, a memcpy of the buffer, the send, the reply freed; "
             "in place: the send and the reply freed alone");
  bench_report();
  return 0;
}
