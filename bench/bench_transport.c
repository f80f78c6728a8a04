/*
 * bench_transport.c — the round trip against the payload's size, from
 * 32 bytes to 64 MiB, for each way of carrying it: ward's (the socket, a
 * payload in shared memory: api.md 6.4, protocol.md 3.5), the floors
 * under them, and iceoryx, measured in the same run.
 *
 * Each contender echoes: the host puts N bytes where its transport wants
 * them and waits for N bytes back, which the other side made from the
 * request by the cheapest means its transport allows. What that means for
 * each (the copies are the point):
 *   raw socketpair  the host writes [u64 N][payload] from its buffer; the
 *                   child reads it into its own buffer and writes it back;
 *                   the host reads it into its buffer: four copies, two by
 *                   the kernel each way. ward's socket transport does the
 *                   same work, plus framing.
 *   raw futex       shared memory (a memfd both map), one slot per
 *                   direction, a sequence word per slot and a futex on it:
 *                   the host copies the payload into the request slot; the
 *                   child copies the request slot into the reply slot; the
 *                   host reads the reply where it lies. Two copies: the
 *                   physical floor for any transport that cannot hand over
 *                   the caller's own memory. In "any CPU" mode it is also
 *                   run with the waiter spinning for up to 50 us before it
 *                   sleeps ("raw futex + spin").
 *   iceoryx         iceoryx's C binding (Debian's libiceoryx-binding-c-dev;
 *                   the benchmark starts its own iox-roudi with mempools
 *                   up to 64 MiB): the host loans a chunk, copies the
 *                   payload into it and publishes; the child takes it,
 *                   loans a reply chunk, copies the request into it and
 *                   publishes (a chunk received cannot be published again);
 *                   the host takes the reply and releases both. The same
 *                   two copies as raw futex; waits are iceoryx's wait sets.
 *                   Skipped, with a note, where the binding was not found
 *                   at build time or iox-roudi cannot start, and in --quick
 *                   (RouDi is one per machine, and tests run side by side).
 *   ward socket     ward_request_ex("echo", WARD_ENC_RAW) to a worker whose
 *                   handler replies with the bytes it received, payloads in
 *                   shared memory off (ward_spec_zerocopy 0): the bytes go
 *                   through the socket both ways, like the raw socketpair's.
 *   ward rings      the same call to a worker whose frames travel in the
 *                   shared-memory rings (WARD_FRAMES_SHM, protocol.md 17;
 *                   the default on linux): the host copies the frame into
 *                   its ring, the worker out of it into its message and its
 *                   reply into its ring, the host out of it: four copies in
 *                   user space, none in the kernel, and a payload larger
 *                   than a ring goes through it in pieces. Linux alone.
 *   ward in place   a payload built in place (ward_payload_new, filled from
 *                   the host's buffer before the timing, as the other
 *                   contenders' buffers are), sent by ward_request_payload
 *                   to a worker taking payloads in shared memory from 4 KiB
 *                   on; its echo passes the mapping it got back; timed from
 *                   the send to the reply freed. No copy at all: what bounds
 *                   it is the kernel's work per page, timed alone from 1 MiB
 *                   on (pinned): unmapping the writer's mapping (which
 *                   sealing requires), F_SEAL_WRITE, and freeing the pages
 *                   at the last close.
 *   ward copied     the same, timed with the making and the filling: what
 *                   it would cost to send an ordinary buffer that way
 *                   (which is why ward never does: api.md 6.4).
 *   Under 4 KiB (the floor of ward_spec_zerocopy) payloads are plain memory
 *   and go through the socket; on backends without sealed memfds, always.
 *
 * Every figure is the mean round trip over enough round trips to take
 * about 50 ms (at least 1), in microseconds; every row has its ratio to
 * the raw socketpair of the same size. The sizes' figures go to results.json like every benchmark's,
 * and bench/plot_transport.py draws them (make bench runs it).
 *
 * Usage: bench_transport [--quick] [--reps N] [--json FILE]
 */
#include "bench.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <stdatomic.h>
#define HAVE_FUTEX 1
#else
#define HAVE_FUTEX 0
#endif

#ifdef WARD_BENCH_ICEORYX
#include <iceoryx_binding_c/chunk.h>
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/wait_set.h>
#endif

#define KIB 1024u
#define MIB (1024u * 1024u)

static const bench_method methods[] = {{"echo", bench_m_echo}};

/* Round trips per measurement: enough for about 50 ms, from one timed
 * round trip. */
static int iters_for(double one_us) {
  double n = 50000.0 / (one_us > 0.01 ? one_us : 0.01);
  if (B.quick)
    n /= 100;
  return n < 1 ? 1 : n > 200000 ? 200000 : (int)n;
}

/* The raw socketpair is bench.h's: bench_raw_echo and bench_raw_echo_us. */

/* ------------------------------------------------------------------ */
/* raw futex: two slots in a memfd                                     */

#if HAVE_FUTEX
typedef struct fslot {
  _Alignas(64) _Atomic uint32_t seq; /* bumped after each write of the slot */
  _Atomic uint32_t sleeping;         /* its reader waits in the futex */
  uint64_t len;
} fslot;

typedef struct fshm {
  fslot req, rep;
  _Alignas(64) _Atomic uint32_t quit;
} fshm;

#define FSHM_DATA(h, which) ((char *)(h) + 4096 + (which) * (size_t)64 * MIB)
#define FSHM_SIZE (4096 + 2 * (size_t)64 * MIB)

static void fpost(fslot *s) {
  atomic_fetch_add(&s->seq, 1);
  if (atomic_load(&s->sleeping))
    syscall(SYS_futex, &s->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Waits until the slot's sequence is no longer `seen`, spinning for up to
 * `spin_ns` first. */
static uint32_t fwait(fslot *s, uint32_t seen, int64_t spin_ns) {
  uint32_t v;
  if (spin_ns > 0) {
    int64_t end = now_ns() + spin_ns;
    do {
      for (int k = 0; k < 64; k++)
        if ((v = atomic_load_explicit(&s->seq, memory_order_acquire)) != seen)
          return v;
    } while (now_ns() < end);
  }
  for (;;) {
    atomic_store(&s->sleeping, 1);
    if ((v = atomic_load(&s->seq)) != seen) {
      atomic_store(&s->sleeping, 0);
      return v;
    }
    syscall(SYS_futex, &s->seq, FUTEX_WAIT, seen, NULL, NULL, 0);
    atomic_store(&s->sleeping, 0);
    if ((v = atomic_load(&s->seq)) != seen)
      return v;
  }
}

/* Passes a descriptor over the socketpair. */
static void send_fd(bench_fd sock, int fd) {
  char c = 'm';
  struct iovec iov = {&c, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                      .msg_controllen = sizeof u.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &fd, sizeof fd);
  if (sendmsg(sock, &mh, 0) != 1)
    die("sendmsg of the memfd");
}

static int recv_fd(bench_fd sock) {
  char c;
  struct iovec iov = {&c, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                      .msg_controllen = sizeof u.buf};
  if (recvmsg(sock, &mh, 0) != 1)
    die("recvmsg of the memfd");
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  if (!cm || cm->cmsg_type != SCM_RIGHTS)
    die("no memfd came");
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  return fd;
}

static fshm *fshm_map(int fd) {
  void *p = mmap(NULL, FSHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    die("mmap");
  return p;
}

/* The child: copies each request into the reply slot. It spins as long as
 * the host told it to (in the first word it reads). */
static int futex_echo_child(bench_fd sock) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* it sleeps in a futex, not on the socket */
  int fd = recv_fd(sock);
  fshm *h = fshm_map(fd);
  int64_t spin_ns = 0;
  read_full(sock, &spin_ns, sizeof spin_ns);
  uint32_t seen = 0;
  for (;;) {
    seen = fwait(&h->req, seen, spin_ns);
    if (atomic_load(&h->quit))
      break;
    uint64_t n = h->req.len;
    if (n > 64 * MIB)
      die("futex child: a request of %llu bytes", (unsigned long long)n);
    memcpy(FSHM_DATA(h, 1), FSHM_DATA(h, 0), n);
    h->rep.len = n;
    fpost(&h->rep);
  }
  munmap(h, FSHM_SIZE);
  close(fd);
  return 0;
}

typedef struct fpeer {
  bench_pid pid;
  bench_fd sock;
  int fd;
  fshm *h;
  uint32_t rep_seen;
  int64_t spin_ns;
} fpeer;

static void fpeer_start(fpeer *p, int64_t spin_ns) {
  memset(p, 0, sizeof *p);
  p->fd = (int)syscall(SYS_memfd_create, "bench-futex", 1u /* MFD_CLOEXEC */);
  if (p->fd < 0 || ftruncate(p->fd, (off_t)FSHM_SIZE) != 0)
    die("memfd");
  p->h = fshm_map(p->fd);
  p->spin_ns = spin_ns;
  p->pid = raw_spawn("--futex-echo", &p->sock);
  send_fd(p->sock, p->fd);
  write_full(p->sock, &spin_ns, sizeof spin_ns);
}

static void fpeer_stop(fpeer *p) {
  atomic_store(&p->h->quit, 1);
  fpost(&p->h->req);
  raw_reap(p->pid, p->sock);
  munmap(p->h, FSHM_SIZE);
  close(p->fd);
}

static double futex_rtt(fpeer *p, const char *out, size_t size, int iters) {
  volatile char sink = 0;
  int64_t t0 = now_ns();
  for (int i = 0; i < iters; i++) {
    memcpy(FSHM_DATA(p->h, 0), out, size);
    p->h->req.len = size;
    fpost(&p->h->req);
    p->rep_seen = fwait(&p->h->rep, p->rep_seen, p->spin_ns);
    if (p->h->rep.len != size)
      die("futex echo of %zu bytes came back with %llu", size, (unsigned long long)p->h->rep.len);
    sink = FSHM_DATA(p->h, 1)[size - 1];
  }
  (void)sink;
  return (double)(now_ns() - t0) / 1e3 / iters;
}
#endif

/* ------------------------------------------------------------------ */
/* iceoryx                                                             */

#ifdef WARD_BENCH_ICEORYX
/* The mempools: every size the benchmark sends, with room for the chunk
 * header, a few chunks each (a round trip holds at most two per size). */
static const char roudi_conf[] =
    "[general]\nversion = 1\n[[segment]]\n"
    "[[segment.mempool]]\nsize = 128\ncount = 64\n"
    "[[segment.mempool]]\nsize = 2048\ncount = 32\n"
    "[[segment.mempool]]\nsize = 33792\ncount = 16\n"
    "[[segment.mempool]]\nsize = 263168\ncount = 8\n"
    "[[segment.mempool]]\nsize = 1049600\ncount = 8\n"
    "[[segment.mempool]]\nsize = 8389632\ncount = 4\n"
    "[[segment.mempool]]\nsize = 67109888\ncount = 4\n";

typedef struct iox {
  iox_pub_storage_t pub_s;
  iox_sub_storage_t sub_s;
  iox_ws_storage_t ws_s;
  iox_pub_t pub;
  iox_sub_t sub;
  iox_ws_t ws;
} iox;

static void iox_open(iox *x, const char *name, const char *out, const char *in) {
  iox_set_loglevel(Iceoryx_LogLevel_Warn);
  iox_runtime_init(name);
  iox_pub_options_t po;
  iox_pub_options_init(&po);
  po.historyCapacity = 0;
  x->pub = iox_pub_init(&x->pub_s, "ward-bench", "echo", out, &po);
  iox_sub_options_t so;
  iox_sub_options_init(&so);
  so.queueCapacity = 4;
  so.historyRequest = 0;
  x->sub = iox_sub_init(&x->sub_s, "ward-bench", "echo", in, &so);
  x->ws = iox_ws_init(&x->ws_s);
  if (iox_ws_attach_subscriber_state(x->ws, x->sub, SubscriberState_HAS_DATA, 0, NULL) !=
      WaitSetResult_SUCCESS)
    die("iox_ws_attach_subscriber_state");
}

static void iox_close(iox *x) {
  iox_ws_deinit(x->ws);
  iox_sub_deinit(x->sub);
  iox_pub_deinit(x->pub);
  iox_runtime_shutdown();
}

/* Takes the next chunk, waiting in the wait set for one. */
static const void *iox_take(iox *x) {
  const void *p;
  for (;;) {
    if (iox_sub_take_chunk(x->sub, &p) == ChunkReceiveResult_SUCCESS)
      return p;
    iox_notification_info_t info[1];
    uint64_t missed;
    iox_ws_wait(x->ws, info, 1, &missed);
  }
}

/* The child: each chunk is [u64 N][N - 8 more bytes]; N == 0 ends. */
static int iox_echo_child(bench_fd sock) {
  iox x;
  iox_open(&x, "ward-bench-child", "reply", "request");
  char c = 'r';
  write_full(sock, &c, 1);
  for (;;) {
    const void *req = iox_take(&x);
    uint64_t n;
    memcpy(&n, req, sizeof n);
    if (n == 0) {
      iox_sub_release_chunk(x.sub, req);
      break;
    }
    void *rep;
    if (iox_pub_loan_chunk(x.pub, &rep, (uint32_t)n) != AllocationResult_SUCCESS)
      die("iceoryx child: no chunk of %llu bytes", (unsigned long long)n);
    memcpy(rep, req, n);
    iox_sub_release_chunk(x.sub, req);
    iox_pub_publish_chunk(x.pub, rep);
  }
  iox_close(&x);
  return 0;
}

/* The host's side, in a process of its own too: RouDi sends SIGTERM to
 * every program still registered with it when it stops, and a runtime
 * stays registered until its process ends. So the benchmark's own process
 * never registers: it asks this child for each figure ([u64 size]
 * [u32 round trips] -> [double us]; size 0 ends it). */
static double iox_rtt(iox *x, const char *out, size_t size, int iters) {
  volatile char sink = 0;
  uint64_t n = size;
  int64_t t0 = now_ns();
  for (int i = 0; i < iters; i++) {
    void *req;
    if (iox_pub_loan_chunk(x->pub, &req, (uint32_t)size) != AllocationResult_SUCCESS)
      die("iceoryx: no chunk of %zu bytes", size);
    memcpy(req, out, size);
    memcpy(req, &n, sizeof n);
    iox_pub_publish_chunk(x->pub, req);
    const char *rep = iox_take(x);
    sink = rep[size - 1];
    iox_sub_release_chunk(x->sub, rep);
  }
  (void)sink;
  return (double)(now_ns() - t0) / 1e3 / iters;
}

static int iox_host_child(bench_fd sock) {
  bench_os_init();
  bench_fd esock;
  bench_pid echo = raw_spawn("--iox-echo", &esock);
  char c;
  if (!read_full(esock, &c, 1))
    die("the iceoryx echo did not start");
  iox x;
  iox_open(&x, "ward-bench-host", "request", "reply");
  /* Both sides see each other once RouDi has matched them. */
  for (int i = 0; i < 5000 && !iox_pub_has_subscribers(x.pub); i++)
    bench_nap_us(2000);
  if (!iox_pub_has_subscribers(x.pub))
    die("iceoryx: the echo never subscribed");
  write_full(sock, &c, 1);
  char *out = NULL;
  size_t cap = 0;
  for (;;) {
    uint64_t size;
    uint32_t iters;
    if (!read_full(sock, &size, sizeof size) || size == 0)
      break;
    read_full(sock, &iters, sizeof iters);
    if (size > cap) {
      free(out);
      if (!(out = malloc(size)))
        die("malloc");
      memset(out, 't', size);
      cap = size;
    }
    double us = iox_rtt(&x, out, size, (int)iters);
    write_full(sock, &us, sizeof us);
  }
  void *q;
  if (iox_pub_loan_chunk(x.pub, &q, 8) == AllocationResult_SUCCESS) {
    memset(q, 0, 8);
    iox_pub_publish_chunk(x.pub, q);
  }
  raw_reap(echo, esock);
  iox_close(&x);
  free(out);
  return 0;
}

typedef struct ipeer {
  pid_t roudi;
  bench_pid pid;
  bench_fd sock;
  int up;
} ipeer;

/* Starts iox-roudi with our mempools, then the host's child; 0 when
 * iceoryx is not usable (with a note saying why). */
static int ipeer_start(ipeer *p) {
  memset(p, 0, sizeof *p);
  char roudi[4200];
  if (!bench_which("iox-roudi", roudi, sizeof roudi)) {
    bench_note("iceoryx skipped: iox-roudi is not installed (Debian's iceoryx package)");
    return 0;
  }
  char conf[] = "/tmp/ward-bench-roudi-XXXXXX", log[] = "/tmp/ward-bench-roudi-log-XXXXXX";
  int cfd = mkstemp(conf), lfd = mkstemp(log);
  if (cfd < 0 || lfd < 0)
    die("mkstemp");
  write_full(cfd, roudi_conf, sizeof roudi_conf - 1);
  close(cfd);
  char *args[] = {roudi, "-c", conf, "-l", "info", NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, lfd, 1);
  posix_spawn_file_actions_adddup2(&fa, lfd, 2);
  int e = posix_spawn(&p->roudi, roudi, &fa, NULL, args, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(lfd);
  if (e) {
    errno = e;
    die("posix_spawn iox-roudi");
  }
  /* RouDi says when it is ready in its log; one that ends first (another
   * RouDi is running: there is one per machine) is skipped. */
  int ready = 0, st = 0, ended = 0;
  for (int i = 0; i < 1000 && !ready && !ended; i++) {
    char buf[8192] = "";
    FILE *f = fopen(log, "r");
    if (f) {
      size_t n = fread(buf, 1, sizeof buf - 1, f);
      buf[n] = 0;
      fclose(f);
    }
    ready = strstr(buf, "ready for clients") != NULL;
    ended = !ready && waitpid(p->roudi, &st, WNOHANG) == p->roudi;
    if (!ready && !ended)
      bench_nap_us(10000);
  }
  unlink(conf);
  unlink(log);
  if (!ready) {
    if (!ended) {
      kill(p->roudi, SIGKILL);
      waitpid(p->roudi, NULL, 0);
    }
    bench_note("iceoryx skipped: iox-roudi %s (is another RouDi running?)",
               ended ? "ended at start" : "was not ready within 10 s");
    return 0;
  }
  p->pid = raw_spawn("--iox-host", &p->sock);
  char c;
  if (!read_full(p->sock, &c, 1))
    die("the iceoryx host did not start");
  p->up = 1;
  return 1;
}

static void ipeer_stop(ipeer *p) {
  if (!p->up)
    return;
  uint64_t end = 0;
  write_full(p->sock, &end, sizeof end);
  raw_reap(p->pid, p->sock);
  kill(p->roudi, SIGTERM);
  waitpid(p->roudi, NULL, 0);
  p->up = 0;
}

static double ipeer_rtt(ipeer *p, size_t size, int iters) {
  uint64_t n = size;
  uint32_t it = (uint32_t)iters;
  double us;
  write_full(p->sock, &n, sizeof n);
  write_full(p->sock, &it, sizeof it);
  if (!read_full(p->sock, &us, sizeof us))
    die("the iceoryx host ended");
  return us;
}
#endif

/* ------------------------------------------------------------------ */
/* ward                                                                */

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

static double ward_rtt(ward_worker *w, const char *out, size_t size, int iters) {
  int64_t t0 = now_ns();
  for (int i = 0; i < iters; i++) {
    ward_msg *m;
    if (ward_request_ex(&m, w, "echo", out, size, raw_opts()))
      die("ward_request of %zu bytes", size);
    check(m, size);
  }
  return (double)(now_ns() - t0) / 1e3 / iters;
}

/* Payloads built in place, filled from `out`: the round trip alone, or
 * (`with_making`) with the making and the filling. */
static double in_place_rtt(ward_worker *w, const char *out, size_t size, int iters,
                           int with_making) {
  int64_t total = 0;
  for (int i = 0; i < iters; i++) {
    int64_t t0 = now_ns();
    ward_payload *p;
    if (ward_payload_new(&p, size))
      die("ward_payload_new of %zu bytes", size);
    memcpy(ward_payload_data(p), out, size);
    int64_t t1 = now_ns();
    ward_msg *m;
    if (ward_request_payload(&m, w, "echo", p, raw_opts()))
      die("ward_request_payload of %zu bytes", size);
    check(m, size);
    total += now_ns() - (with_making ? t0 : t1);
  }
  return (double)total / 1e3 / iters;
}

static ward_worker *ward_start(ward_host *h, int frames, uint32_t zmin) {
  ward_spec *s = bench_spec("transport", "--ward-child");
  ward_worker *w;
  /* Frames where the row says: with frames in shared memory payloads are
   * not passed as memfds (protocol.md 17.5), and the bytes would not go
   * through the socket. */
  if (ward_spec_frames(s, frames) || ward_spec_zerocopy(s, zmin) || ward_spawn(&w, h, s))
    die("ward_spawn");
  ward_spec_free(s);
  return w;
}

#if HAVE_FUTEX
/* The kernel's part of a payload of `size` bytes in shared memory, in
 * microseconds, done by hand on a memfd filled as a payload is: unmapping
 * the writer's mapping, adding F_SEAL_WRITE (the kernel checks the pages
 * for pins), and the last close (the pages freed). */
static void kernel_costs(size_t size, double *unmap, double *seal, double *last) {
  int fd = (int)syscall(SYS_memfd_create, "bench", 3u /* MFD_CLOEXEC | MFD_ALLOW_SEALING */);
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

/* Sealed memfds: the linux backend's alone (docs/platforms.md). */
static int shm_here(void) { return strcmp(WARD__BACKEND_NAME, "linux") == 0; }

/* ------------------------------------------------------------------ */

enum {
  C_SOCK,
  C_FUTEX,
  C_FUTEX_SPIN,
  C_IOX,
  C_WARD,
  C_WARD_RINGS,
  C_WARD_COPIED,
  C_WARD_IN_PLACE,
  C_COUNT
};
static const char *const cnames[C_COUNT] = {
    ("raw " BENCH_RAW_CHANNEL), "raw futex",   "raw futex + spin", "iceoryx", "ward socket",
    "ward rings",             "ward copied", "ward in place"};

typedef struct contenders {
  int on[C_COUNT];
  bench_pid sock_pid;
  bench_fd sock;
#if HAVE_FUTEX
  fpeer fut, fut_spin;
#endif
#ifdef WARD_BENCH_ICEORYX
  ipeer iox;
#endif
  ward_host *h;
  ward_worker *w, *wz; /* payloads in shared memory: off, on from 4 KiB */
  ward_worker *wr;     /* frames in the rings */
  char *out, *in;
} contenders;

static double one_rtt(contenders *c, int k, size_t size, int iters) {
  switch (k) {
  case C_SOCK:
    return bench_raw_echo_us(c->sock, c->out, c->in, size, iters);
#if HAVE_FUTEX
  case C_FUTEX:
    return futex_rtt(&c->fut, c->out, size, iters);
  case C_FUTEX_SPIN:
    return futex_rtt(&c->fut_spin, c->out, size, iters);
#endif
#ifdef WARD_BENCH_ICEORYX
  case C_IOX:
    return ipeer_rtt(&c->iox, size, iters);
#endif
  case C_WARD:
    return ward_rtt(c->w, c->out, size, iters);
  case C_WARD_RINGS:
    return ward_rtt(c->wr, c->out, size, iters);
  case C_WARD_COPIED:
    return in_place_rtt(c->wz, c->out, size, iters, 1);
  case C_WARD_IN_PLACE:
    return in_place_rtt(c->wz, c->out, size, iters, 0);
  }
  return NAN;
}

/* A size's name in the table and the JSON: "32 B", "64 KiB", "1 MiB". */
static void size_name(char *buf, size_t n, size_t size) {
  if (size >= MIB)
    snprintf(buf, n, "%zu MiB", size / MIB);
  else if (size >= KIB)
    snprintf(buf, n, "%zu KiB", size / KIB);
  else
    snprintf(buf, n, "%zu B", size);
}

static void run_mode(const bench_mode *mode, const size_t *sizes, int nsizes) {
  bench_set_mode(mode);
  contenders c;
  memset(&c, 0, sizeof c);
  size_t max = sizes[nsizes - 1];
  if (!(c.out = malloc(max)) || !(c.in = malloc(max)))
    die("malloc");
  memset(c.out, 't', max);
  memset(c.in, 0, max);

  c.sock_pid = raw_spawn("--sock-echo", &c.sock);
  c.on[C_SOCK] = 1;
#if HAVE_FUTEX
  fpeer_start(&c.fut, 0);
  c.on[C_FUTEX] = 1;
  if (!mode->pinned) {
    fpeer_start(&c.fut_spin, 50000);
    c.on[C_FUTEX_SPIN] = 1;
  }
#endif
#ifdef WARD_BENCH_ICEORYX
  if (!B.quick)
    c.on[C_IOX] = ipeer_start(&c.iox);
#endif
  if (ward_host_new(&c.h, NULL))
    die("ward_host_new");
  c.w = ward_start(c.h, WARD_FRAMES_SOCKET, 0);
  c.wz = ward_start(c.h, WARD_FRAMES_SOCKET, 4096);
  c.on[C_WARD] = c.on[C_WARD_COPIED] = c.on[C_WARD_IN_PLACE] = 1;
  if (shm_here()) {
    c.wr = ward_start(c.h, WARD_FRAMES_SHM, 0);
    /* Handshake done: how its frames travel is settled. */
    if (ward_ping(c.wr, 30000))
      die("ward_ping");
    c.on[C_WARD_RINGS] = ward_worker_frames(c.wr) == WARD_FRAMES_SHM;
  }

  for (int z = 0; z < nsizes; z++) {
    size_t size = sizes[z];
    char sname[32], sec[160];
    size_name(sname, sizeof sname, size);
    snprintf(sec, sizeof sec, "round trip of %s, %s: us", sname, mode->label);
    int iters[C_COUNT];
    for (int k = 0; k < C_COUNT; k++)
      if (c.on[k]) {
        one_rtt(&c, k, size, 1); /* warm-up: buffers faulted in on both sides */
        iters[k] = iters_for(one_rtt(&c, k, size, 1));
      }
    double v[C_COUNT][BENCH_MAXREPS];
    for (int i = 0; i < B.reps; i++)
      for (int k = 0; k < C_COUNT; k++)
        if (c.on[k])
          v[k][i] = one_rtt(&c, k, size, iters[k]);
    int row[C_COUNT];
    for (int k = 0; k < C_COUNT; k++) {
      if (!c.on[k])
        continue;
      char name[64];
      snprintf(name, sizeof name, "%s, %s", cnames[k], sname);
      row[k] = row_add(sec, name, "us", v[k], B.reps);
      if (k != C_SOCK)
        row_vs(row[k], row[C_SOCK]);
      if (k == C_WARD_IN_PLACE && size == 64 * MIB && shm_here())
        row_target(row[k], T_MED_LE, 1000, "< 1 ms");
    }
#if HAVE_FUTEX
    if (size >= MIB && mode->pinned && shm_here())
      kernel_rows(mode->label, size, sname);
#endif
  }

  ward_host_free(c.h);
#ifdef WARD_BENCH_ICEORYX
  ipeer_stop(&c.iox);
#endif
#if HAVE_FUTEX
  fpeer_stop(&c.fut);
  if (c.on[C_FUTEX_SPIN])
    fpeer_stop(&c.fut_spin);
#endif
  raw_reap(c.sock_pid, c.sock);
  free(c.out);
  free(c.in);
  bench_set_mode(NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return bench_ward_child(methods, 1);
  if (argc > 1 && strcmp(argv[1], "--sock-echo") == 0)
    return bench_raw_echo(raw_child_end(argc > 2 ? argv[2] : NULL));
#if HAVE_FUTEX
  if (argc > 1 && strcmp(argv[1], "--futex-echo") == 0)
    return futex_echo_child(raw_child_end(argc > 2 ? argv[2] : NULL));
#endif
#ifdef WARD_BENCH_ICEORYX
  if (argc > 1 && strcmp(argv[1], "--iox-echo") == 0)
    return iox_echo_child(raw_child_end(argc > 2 ? argv[2] : NULL));
  if (argc > 1 && strcmp(argv[1], "--iox-host") == 0)
    return iox_host_child(raw_child_end(argc > 2 ? argv[2] : NULL));
#endif
  bench_init("transport", argc, argv);
  bench_title("round trip against payload size, per transport");
#ifndef WARD_BENCH_ICEORYX
  bench_note("iceoryx skipped: its C binding (libiceoryx-binding-c-dev) was not found at "
             "build time; `make bench` installs it");
#endif
#if !HAVE_FUTEX
  bench_note("raw futex skipped: not Linux");
#endif
  /* 64 MiB is the default frame limit (WARD_MAX_FRAME_DEFAULT): the
   * largest payload a default host and worker accept. */
  static const size_t full[] = {32, 1 * KIB, 32 * KIB, 256 * KIB, 1 * MIB, 8 * MIB, 64 * MIB};
  static const size_t quick[] = {32, 32 * KIB, 1 * MIB};
  for (int m = 0; m < bench_nmodes(); m++)
    run_mode(&bench_modes[m], B.quick ? quick : full,
             B.quick ? (int)(sizeof quick / sizeof *quick) : (int)(sizeof full / sizeof *full));
  if (!shm_here())
    bench_note("this backend has no sealed memfds: every ward row goes through the socket");
  bench_note("under 4 KiB every ward row goes through the socket (ward_spec_zerocopy's floor)");
  bench_note("every contender echoes; what each copies is in the source's header comment");
  bench_report();
  return 0;
}
