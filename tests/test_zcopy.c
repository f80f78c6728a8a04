/*
 * test_zcopy.c — payloads in shared memory (docs/protocol.md 3.5): large
 * payloads built in place travel as a sealed memfd, both ways (host and
 * worker requests, handler replies), and arrive as read-only mappings; a
 * handler's reply of its own request's data passes the mapping on; an
 * ordinary buffer, a host that did not agree, small payloads, and the
 * posix backend use the socket. A worker that sends an unsealed memfd, one shorter than it
 * claims, a descriptor that is no memfd or one over the host's limit
 * fails that call alone (WARD_EPROTO, WARD_ETOOBIG; the descriptor is
 * closed); one that sends a frame without its descriptor, a descriptor
 * without its frame, such a frame where none was agreed or of a kind that
 * carries none, is cut off (WARD_EPROTO). The host lives on either way.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/mman.h>
#endif
#include <sys/stat.h>
#include <unistd.h>

#include "tevents.h"
#include "tworker.h"

#define BIG (2u * 1024u * 1024u)

static ward_host *host;

/* A byte pattern that tells one offset from another. */
static void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(i * 7u + seed + (i >> 12));
}

static int pattern_ok(const uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (uint8_t)(i * 7u + seed + (i >> 12)))
      return 0;
  return 1;
}

/* Whether `p` lies in a mapping of a payload memfd of this process. */
static int in_payload_memfd(const void *p) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f)
    return 0;
  char line[512];
  int found = 0;
  uintptr_t a = (uintptr_t)p;
  while (!found && fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi &&
        strstr(line, "memfd:ward-payload"))
      found = 1;
  }
  fclose(f);
  return found;
}

#ifdef __linux__
static int open_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}
#endif

/* ------------------------------------------------------------------ */
/* The worker                                                          */

/* Replies with a payload of the size asked for, built in place. */
static int zw_fill(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  char buf[32];
  snprintf(buf, sizeof buf, "%.*s", (int)(n < 31 ? n : 31), (const char *)d);
  ward_payload *p;
  int rv = ward_payload_new(&p, (size_t)atol(buf));
  if (rv)
    return rv;
  fill(ward_payload_data(p), ward_payload_len(p), 3);
  return ward_ctx_reply_payload(ctx, p);
}

/* Says whether its request came in a payload memfd: "mapped" or "copied". */
static int zw_how(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  if (!pattern_ok(d, n, 1))
    return ward_ctx_fail(ctx, 5, "bad bytes");
  const char *s = in_payload_memfd(d) ? "mapped" : "copied";
  return ward_ctx_reply(ctx, s, strlen(s));
}

/* Calls the host's "sum" with a payload built in place, and replies with
 * what the host answered. */
static int zw_ask_host(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  ward_payload *p;
  int rv = ward_payload_new(&p, BIG);
  if (rv)
    return rv;
  fill(ward_payload_data(p), BIG, 9);
  ward_msg *m;
  rv = ward_client_request_payload(&m, ud, "sum", p, 20000);
  if (rv)
    return rv;
  rv = ward_ctx_reply(ctx, ward_msg_data(m), ward_msg_len(m));
  ward_msg_free(m);
  return rv;
}

/* Calls the host's "echo" with a payload built in place, and says how the
 * echo came back: "mapped ok" when the host passed the mapping on. */
static int zw_ask_echo(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  ward_payload *p;
  int rv = ward_payload_new(&p, BIG);
  if (rv)
    return rv;
  fill(ward_payload_data(p), BIG, 9);
  ward_msg *m;
  rv = ward_client_request_payload(&m, ud, "echo", p, 20000);
  if (rv)
    return rv;
  char out[32];
  snprintf(out, sizeof out, "%s %s", in_payload_memfd(ward_msg_data(m)) ? "mapped" : "copied",
           ward_msg_len(m) == BIG && pattern_ok(ward_msg_data(m), BIG, 9) ? "ok" : "bad");
  ward_msg_free(m);
  return ward_ctx_reply(ctx, out, strlen(out));
}

#ifdef __linux__
static void put64le(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Sends, raw on the channel, a REPLY for the ctx's call whose payload is
 * in shared memory claimed `len` bytes long, with the descriptor `fd`
 * (none when -1); `flags` beside the shared-memory bit. */
/* Writes `n` bytes on the worker's channel (descriptor 3) in one
 * sendmsg, with `fd` attached when it is not -1, bypassing the library;
 * exits 99 when not all of it goes. */
static void send_raw(const void *p, size_t n, int fd) {
  struct iovec iov = {(void *)p, n};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd >= 0) {
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
  }
  if (sendmsg(3, &mh, 0) != (ssize_t)n)
    _exit(99);
}

static void raw_shm_frame(ward_ctx *ctx, uint8_t kind, uint64_t len, int fd) {
  uint8_t f[WARD__HDR_SIZE + 8];
  ward__hdr h = {.kind = kind, .flags = WARD__FLAG_SHM, .len = 8, .id = ctx->id};
  ward__hdr_put(f, &h);
  put64le(f + WARD__HDR_SIZE, len);
  send_raw(f, sizeof f, fd);
  ctx->ended = 1; /* answered by hand */
}

static void raw_shm_reply(ward_ctx *ctx, uint64_t len, int fd) {
  raw_shm_frame(ctx, WARD__K_REPLY, len, fd);
}

/* A memfd of `size` bytes with `seals`. */
static int memfd_sealed(size_t size, int seals) {
  int fd = memfd_create("hostile", MFD_ALLOW_SEALING);
  if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || (seals && fcntl(fd, F_ADD_SEALS, seals) < 0))
    _exit(98);
  return fd;
}

#define ALL_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)

static int zw_unsealed(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int fd = memfd_sealed(BIG, F_SEAL_SHRINK | F_SEAL_GROW); /* writable still */
  raw_shm_reply(ctx, BIG, fd);
  close(fd);
  return 0;
}

static int zw_short(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int fd = memfd_sealed(BIG / 2, ALL_SEALS);
  raw_shm_reply(ctx, BIG, fd);
  close(fd);
  return 0;
}

static int zw_not_memfd(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int p[2];
  if (pipe(p) < 0)
    _exit(98);
  raw_shm_reply(ctx, BIG, p[0]);
  close(p[0]);
  close(p[1]);
  return 0;
}

/* Over the host's max_frame (set to BIG by the test). */
static int zw_too_big(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int fd = memfd_sealed(2 * BIG, ALL_SEALS);
  raw_shm_reply(ctx, 2 * BIG, fd);
  close(fd);
  return 0;
}

static int zw_no_fd(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  raw_shm_reply(ctx, BIG, -1);
  tw_forever();
}

/* An ordinary REPLY with a descriptor on it. */
static int zw_stray_fd(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int fd = memfd_sealed(BIG, ALL_SEALS);
  uint8_t f[WARD__HDR_SIZE + 2];
  ward__hdr h = {.kind = WARD__K_REPLY, .len = 2, .id = ctx->id};
  ward__frame_put(f, &h, NULL, "ok");
  send_raw(f, sizeof f, fd);
  tw_forever();
}

/* A well-made payload in shared memory on a PROGRESS, which never
 * carries one. */
static int zw_wrong_kind(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int fd = memfd_sealed(BIG, ALL_SEALS);
  raw_shm_frame(ctx, WARD__K_PROGRESS, BIG, fd);
  tw_forever();
}

/* A well-made payload in shared memory, where the host agreed to none. */
static int zw_unasked(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int fd = memfd_sealed(BIG, ALL_SEALS);
  raw_shm_reply(ctx, BIG, fd);
  tw_forever();
}

/* With frames in the rings: a REPLY with bit 2 of its flags, put in the
 * ring as any record, with no descriptor anywhere. */
static int zw_ring_bit2(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  uint8_t len[8];
  put64le(len, BIG);
  ward__hdr h = {.kind = WARD__K_REPLY, .flags = WARD__FLAG_SHM, .len = 8, .id = ctx->id};
  if (ward__conn_send(ward__client_conn(ud), &h, NULL, len, 8, NULL, 0, 1, ward__deadline(5000)))
    _exit(99);
  ctx->ended = 1;
  tw_forever();
}

/* With frames in the rings: a wake-up byte on the socket with a sealed
 * memfd attached, then an ordinary reply in the ring. */
static int zw_ring_fd(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int fd = memfd_sealed(BIG, ALL_SEALS);
  uint8_t wake = 0x57;
  send_raw(&wake, 1, fd);
  ward_ctx_reply(ctx, "ok", 2);
  tw_forever();
}
#endif

static int zw_serve(void) {
  ward_client *c;
  if (ward_client_connect(&c))
    return 2;
  ward_client_handle(c, "echo", tw_echo, c);
  ward_client_handle(c, "fill", zw_fill, c);
  ward_client_handle(c, "how", zw_how, c);
  ward_client_handle(c, "ask_host", zw_ask_host, c);
  ward_client_handle(c, "ask_echo", zw_ask_echo, c);
#ifdef __linux__
  ward_client_handle(c, "unsealed", zw_unsealed, c);
  ward_client_handle(c, "short", zw_short, c);
  ward_client_handle(c, "not_memfd", zw_not_memfd, c);
  ward_client_handle(c, "too_big", zw_too_big, c);
  ward_client_handle(c, "no_fd", zw_no_fd, c);
  ward_client_handle(c, "stray_fd", zw_stray_fd, c);
  ward_client_handle(c, "unasked", zw_unasked, c);
  ward_client_handle(c, "wrong_kind", zw_wrong_kind, c);
  ward_client_handle(c, "ring_bit2", zw_ring_bit2, c);
  ward_client_handle(c, "ring_fd", zw_ring_fd, c);
#endif
  int rv = ward_client_run(c);
  ward_client_free(c);
  return rv == WARD_OK ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* The host                                                            */

static int host_sum(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  char out[64];
  snprintf(out, sizeof out, "%zu %s %s", n, pattern_ok(d, n, 9) ? "ok" : "bad",
           in_payload_memfd(d) ? "mapped" : "copied");
  return ward_ctx_reply(ctx, out, strlen(out));
}

/* Payloads in shared memory travel only with frames on the socket
 * (protocol.md 17.5): the workers below keep their frames there, whatever
 * WARD_FRAMES says, except those of the tests of the rings. */
static ward_worker *spawn_frames(uint32_t zmin, int frames) {
  ward_spec *s = tw_spec("zc", "zc");
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  T_OK(ward_spec_zerocopy(s, zmin));
  T_OK(ward_spec_frames(s, frames));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  return w;
}

static ward_worker *spawn_zc(uint32_t zmin) { return spawn_frames(zmin, WARD_FRAMES_SOCKET); }

static int shm_here(void) { return ward__shm_supported(); }

/* An ordinary buffer goes through the socket, however large: copying it
 * into shared memory would cost more than the socket does. */
static void test_ordinary_buffer_copied(void) {
  ward_worker *w = spawn_zc(WARD_ZEROCOPY_MIN_DEFAULT);
  uint8_t *buf = malloc(BIG);
  fill(buf, BIG, 1);
  ward_msg *m;
  T_OK(ward_request(&m, w, "how", buf, BIG, 20000));
  T_EQ_MEM(ward_msg_data(m), "copied", 6);
  ward_msg_free(m);
  T_OK(ward_request(&m, w, "echo", buf, BIG, 20000));
  T_EQ_INT(ward_msg_len(m), BIG);
  T_TRUE(memcmp(ward_msg_data(m), buf, BIG) == 0);
  T_TRUE(!in_payload_memfd(ward_msg_data(m)));
  ward_msg_free(m);
  free(buf);
  ward_worker_free(w);
}

/* Payloads built in place, both ways, and from the worker to the host. */
static void test_in_place(void) {
  ward_worker *w = spawn_zc(WARD_ZEROCOPY_MIN_DEFAULT);
  ward_payload *p;
  T_ERR(ward_payload_new(&p, 0), WARD_EINVAL);
  T_TRUE(p == NULL);
  T_OK(ward_payload_new(&p, BIG));
  T_EQ_INT(ward_payload_len(p), BIG);
  fill(ward_payload_data(p), BIG, 1);
  ward_msg *m;
  T_OK(ward_request_payload(&m, w, "how", p, NULL));
  T_EQ_MEM(ward_msg_data(m), shm_here() ? "mapped" : "copied", 6);
  ward_msg_free(m);
  /* The worker's echo of it passes the mapping it got back. */
  T_OK(ward_payload_new(&p, BIG));
  fill(ward_payload_data(p), BIG, 1);
  T_OK(ward_request_payload(&m, w, "echo", p, NULL));
  T_EQ_INT(ward_msg_len(m), BIG);
  T_TRUE(pattern_ok(ward_msg_data(m), BIG, 1));
  T_EQ_INT(in_payload_memfd(ward_msg_data(m)), shm_here());
  ward_msg_free(m);
  /* A payload in place under the threshold is copied, and arrives whole. */
  T_OK(ward_payload_new(&p, 5000));
  fill(ward_payload_data(p), 5000, 1);
  T_OK(ward_request_payload(&m, w, "how", p, NULL));
  T_EQ_MEM(ward_msg_data(m), "copied", 6);
  ward_msg_free(m);
  /* The worker's reply built in place. */
  T_OK(ward_request(&m, w, "fill", "3000000", 7, 20000));
  T_EQ_INT(ward_msg_len(m), 3000000);
  T_TRUE(pattern_ok(ward_msg_data(m), 3000000, 3));
  T_EQ_INT(in_payload_memfd(ward_msg_data(m)), shm_here());
  ward_msg_free(m);
  /* The worker calls the host with one. */
  char want[64];
  snprintf(want, sizeof want, "%u ok %s", BIG, shm_here() ? "mapped" : "copied");
  T_OK(ward_request(&m, w, "ask_host", NULL, 0, 20000));
  T_EQ_INT(ward_msg_len(m), strlen(want));
  T_EQ_MEM(ward_msg_data(m), want, strlen(want));
  ward_msg_free(m);
  /* A host handler, on the I/O thread, passes the worker's payload back:
   * whole, and as its mapping unless another thread was still writing on
   * the connection (the I/O thread never waits for a writer: it copies the
   * payload into the queue instead, api.md 6.4), which a busy machine may
   * show at any time. */
  T_OK(ward_request(&m, w, "ask_echo", NULL, 0, 20000));
  T_EQ_INT(ward_msg_len(m), strlen("mapped ok"));
  if (shm_here())
    T_TRUE(memcmp(ward_msg_data(m), "mapped ok", 9) == 0 ||
           memcmp(ward_msg_data(m), "copied ok", 9) == 0);
  else
    T_EQ_MEM(ward_msg_data(m), "copied ok", 9);
  ward_msg_free(m);
  T_ERR(ward_request_payload(NULL, w, "how", NULL, NULL), WARD_EINVAL);
  ward_worker_free(w);
}

/* A spec that says no: every payload through the socket. */
static void test_off(void) {
  ward_worker *w = spawn_zc(0);
  ward_payload *p;
  T_OK(ward_payload_new(&p, BIG));
  fill(ward_payload_data(p), BIG, 1);
  ward_msg *m;
  T_OK(ward_request_payload(&m, w, "how", p, NULL));
  T_EQ_MEM(ward_msg_data(m), "copied", 6);
  ward_msg_free(m);
  T_OK(ward_request(&m, w, "fill", "3000000", 7, 20000));
  T_TRUE(pattern_ok(ward_msg_data(m), 3000000, 3));
  T_TRUE(!in_payload_memfd(ward_msg_data(m)));
  ward_msg_free(m);
  T_ERR(ward_spec_zerocopy(NULL, 0), WARD_EINVAL);
  ward_spec *s = tw_spec("x", "zc");
  T_ERR(ward_spec_zerocopy(s, 4095), WARD_EINVAL);
  T_OK(ward_spec_zerocopy(s, 4096));
  ward_spec_free(s);
  ward_worker_free(w);
}

#ifdef __linux__
/* Sealed memory cannot be written by anyone, its maker included, nor
 * resized; the receiver's mapping is read-only. */
static void test_sealed(void) {
  ward__fd fd;
  void *mem;
  T_OK(ward__payload_mem(8192, &fd, &mem));
  memset(mem, 7, 8192);
  T_OK(ward__payload_seal(fd, 8192, &mem));
  T_EQ_INT(((uint8_t *)mem)[8191], 7);
  int seals = fcntl(fd, F_GET_SEALS);
  T_EQ_INT(seals & ALL_SEALS, ALL_SEALS);
  T_TRUE(pwrite(fd, "x", 1, 0) < 0);
  T_TRUE(ftruncate(fd, 4096) < 0);
  T_TRUE(mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
  const void *ro;
  T_OK(ward__payload_map(fd, 8192, &ro));
  T_ERR(ward__payload_map(fd, 8191, &ro), WARD_EPROTO);
  ward__payload_unmap(mem, 8192);
  close(fd);
}

/* A bad descriptor fails its call alone: the worker serves on, and the
 * descriptor is not kept. */
static void bad_payload(const char *method, int err) {
  ward_worker *w = spawn_zc(WARD_ZEROCOPY_MIN_DEFAULT);
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "echo", "x", 1, 20000));
  ward_msg_free(m);
  int before = open_fds();
  T_ERR(ward_request(&m, w, method, NULL, 0, 20000), err);
  T_TRUE(m == NULL);
  T_EQ_INT(open_fds(), before);
  T_OK(ward_request(&m, w, "echo", "y", 1, 20000));
  T_EQ_MEM(ward_msg_data(m), "y", 1);
  ward_msg_free(m);
  ward_worker_free(w);
}

static void test_unsealed(void) { bad_payload("unsealed", WARD_EPROTO); }
static void test_shorter_than_claimed(void) { bad_payload("short", WARD_EPROTO); }
static void test_not_a_memfd(void) { bad_payload("not_memfd", WARD_EPROTO); }
static void test_over_the_limit(void) { bad_payload("too_big", WARD_ETOOBIG); }

/* The stream out of step: the worker is cut off, the host lives on. */
static void cut_off(uint32_t zmin, const char *method) {
  ward_worker *w = spawn_zc(zmin);
  uint64_t id = ward_worker_id(w);
  T_ERR(ward_request(NULL, w, method, NULL, 0, 20000), WARD_EPROTO);
  tev e = tev_wait(WARD_EV_EXITED, id);
  T_EQ_INT(e.reason, WARD_REASON_PROTOCOL);
  ward_worker_free(w);
  w = spawn_zc(zmin);
  T_OK(ward_ping(w, 10000));
  ward_worker_free(w);
}

static void test_frame_without_descriptor(void) { cut_off(WARD_ZEROCOPY_MIN_DEFAULT, "no_fd"); }
/* The frame the descriptor came with is whole and is taken; the stray
 * descriptor is found once the frame is read, and the worker cut off. */
static void test_descriptor_without_frame(void) {
  ward_worker *w = spawn_zc(WARD_ZEROCOPY_MIN_DEFAULT);
  uint64_t id = ward_worker_id(w);
  ward_msg *m;
  T_OK(ward_request(&m, w, "stray_fd", NULL, 0, 20000));
  T_EQ_MEM(ward_msg_data(m), "ok", 2);
  ward_msg_free(m);
  tev e = tev_wait(WARD_EV_ERROR, id);
  T_EQ_INT(e.error, WARD_EPROTO);
  T_TRUE(strstr(e.detail, "descriptor") != NULL);
  e = tev_wait(WARD_EV_EXITED, id);
  T_EQ_INT(e.reason, WARD_REASON_PROTOCOL);
  ward_worker_free(w);
  w = spawn_zc(WARD_ZEROCOPY_MIN_DEFAULT);
  T_OK(ward_ping(w, 10000));
  ward_worker_free(w);
}
static void test_not_agreed(void) { cut_off(0, "unasked"); }

/* Frames in the rings: zerocopy is not agreed even when both sides would
 * (protocol.md 17.5), and large payloads, built in place or not, travel
 * whole in the rings as copies, both ways. */
static void test_rings_copy(void) {
  ward_worker *w = spawn_frames(WARD_ZEROCOPY_MIN_DEFAULT, WARD_FRAMES_SHM);
  ward_payload *p;
  T_OK(ward_payload_new(&p, BIG));
  fill(ward_payload_data(p), BIG, 1);
  ward_msg *m;
  T_OK(ward_request_payload(&m, w, "how", p, NULL));
  T_EQ_INT(ward_worker_frames(w), WARD_FRAMES_SHM);
  T_EQ_MEM(ward_msg_data(m), "copied", 6);
  ward_msg_free(m);
  T_OK(ward_payload_new(&p, BIG));
  fill(ward_payload_data(p), BIG, 1);
  T_OK(ward_request_payload(&m, w, "echo", p, NULL));
  T_EQ_INT(ward_msg_len(m), BIG);
  T_TRUE(pattern_ok(ward_msg_data(m), BIG, 1));
  T_TRUE(!in_payload_memfd(ward_msg_data(m)));
  ward_msg_free(m);
  T_OK(ward_request(&m, w, "fill", "3000000", 7, 20000));
  T_EQ_INT(ward_msg_len(m), 3000000);
  T_TRUE(pattern_ok(ward_msg_data(m), 3000000, 3));
  T_TRUE(!in_payload_memfd(ward_msg_data(m)));
  ward_msg_free(m);
  char want[64];
  snprintf(want, sizeof want, "%u ok copied", BIG);
  T_OK(ward_request(&m, w, "ask_host", NULL, 0, 20000));
  T_EQ_INT(ward_msg_len(m), strlen(want));
  T_EQ_MEM(ward_msg_data(m), want, strlen(want));
  ward_msg_free(m);
  ward_worker_free(w);
}

/* With the rings, a record with bit 2 (a payload in shared memory without
 * its descriptor, which cannot come) and a descriptor beside the rings on
 * the socket each cut the worker off; the host lives on. */
static void rings_cut_off(const char *method, int may_answer) {
  ward_worker *w = spawn_frames(WARD_ZEROCOPY_MIN_DEFAULT, WARD_FRAMES_SHM);
  uint64_t id = ward_worker_id(w);
  T_OK(ward_ping(w, 10000));
  T_EQ_INT(ward_worker_frames(w), WARD_FRAMES_SHM);
  int rv = ward_request(NULL, w, method, NULL, 0, 20000);
  /* The descriptor's wake-up byte goes before the reply in the ring; a
   * host reading the ring already may take the reply first. */
  T_TRUE(rv == WARD_EPROTO || (may_answer && rv == WARD_OK));
  tev e = tev_wait(WARD_EV_EXITED, id);
  T_EQ_INT(e.reason, WARD_REASON_PROTOCOL);
  ward_worker_free(w);
  w = spawn_frames(WARD_ZEROCOPY_MIN_DEFAULT, WARD_FRAMES_SHM);
  T_OK(ward_ping(w, 10000));
  ward_worker_free(w);
}

static void test_rings_bit2(void) { rings_cut_off("ring_bit2", 0); }
static void test_rings_descriptor(void) { rings_cut_off("ring_fd", 1); }
static void test_kind_without_payload(void) { cut_off(WARD_ZEROCOPY_MIN_DEFAULT, "wrong_kind"); }
#endif

int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "--worker") == 0 && strcmp(argv[2], "zc") == 0)
    return zw_serve();
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.on_event = tev_on_event;
  o.max_frame = 3500000; /* over BIG and the 3000000 of "fill", under too_big's */
  T_OK(ward_host_new(&host, &o));
  T_OK(ward_host_handle(host, "sum", host_sum, NULL));
  T_OK(ward_host_handle(host, "echo", tw_echo, NULL));
  /* The socket path, on every backend. */
  T_RUN(test_ordinary_buffer_copied);
  T_RUN(test_in_place);
  T_RUN(test_off);
#ifdef __linux__
  if (!ward__shm_supported()) {
    printf("# skipped: shared-memory payloads (sealed memfds) and their hostile cases: "
           "this backend has no memfd (docs/platforms.md)\n");
  } else {
    T_RUN(test_sealed);
    T_RUN(test_unsealed);
    T_RUN(test_shorter_than_claimed);
    T_RUN(test_not_a_memfd);
    T_RUN(test_over_the_limit);
    T_RUN(test_frame_without_descriptor);
    T_RUN(test_descriptor_without_frame);
    T_RUN(test_not_agreed);
    T_RUN(test_kind_without_payload);
    T_RUN(test_rings_copy);
    T_RUN(test_rings_bit2);
    T_RUN(test_rings_descriptor);
  }
#else
  printf("# skipped: shared-memory payloads and their hostile cases: no memfd here\n");
#endif
  ward_host_free(host);
  return t_done();
}
