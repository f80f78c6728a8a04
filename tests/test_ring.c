/*
 * test_ring.c — the ring of frames in shared memory (src/ring.c): records
 * in order through wrap-arounds, a full ring, sizes that never fit, a
 * writer and a reader on two threads, and a hostile other side: every
 * counter or head a peer could write that cannot be right is refused with
 * WARD_EPROTO, never read past.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "test.h"
#include "ward.h"

#define CAP 256u

static _Alignas(64) uint8_t mem[sizeof(ward__ring_hdr) + (1u << 16)];

static void open_pair(ward__ring *w, ward__ring *r, uint32_t cap) {
  T_OK(ward__ring_open(w, mem, cap, 1));
  T_OK(ward__ring_open(r, mem, cap, 0));
}

static void test_open(void) {
  ward__ring r;
  T_ERR(ward__ring_open(&r, mem, 100, 1), WARD_EINVAL);  /* not a power of two */
  T_ERR(ward__ring_open(&r, mem, 32, 1), WARD_EINVAL);   /* too small */
  T_ERR(ward__ring_open(&r, mem + 8, CAP, 1), WARD_EINVAL); /* misaligned */
  T_ERR(ward__ring_open(&r, NULL, CAP, 1), WARD_EINVAL);
  T_OK(ward__ring_open(&r, mem, CAP, 1));
  T_EQ_INT(ward__ring_size(CAP), sizeof(ward__ring_hdr) + CAP);
  /* A ring someone left with counters that cannot be right. */
  atomic_store(&r.hdr->head, 7);
  T_ERR(ward__ring_open(&r, mem, CAP, 0), WARD_EPROTO);
  atomic_store(&r.hdr->head, 8 + 2 * CAP);
  T_ERR(ward__ring_open(&r, mem, CAP, 0), WARD_EPROTO);
  /* Counters never wrap: a reader's ahead of the writer's is wrong, even
   * if the two are close modulo 2^64. */
  atomic_store(&r.hdr->head, 8);
  atomic_store(&r.hdr->tail, UINT64_MAX - 7);
  T_ERR(ward__ring_open(&r, mem, CAP, 0), WARD_EPROTO);
}

/* Records come out as they went in, split or whole, across many
 * wrap-arounds of every alignment. */
static void test_in_order(void) {
  ward__ring w, r;
  open_pair(&w, &r, CAP);
  char in[200], out[200];
  size_t len;
  for (int i = 0; i < 5000; i++) {
    size_t n = (size_t)(i * 7) % (ward__ring_max_payload(CAP) + 1);
    for (size_t k = 0; k < n; k++)
      in[k] = (char)(i + (int)k);
    size_t split = n ? (size_t)i % n : 0;
    T_EQ_INT(ward__ring_put(&w, in, split, in + split, n - split), 0);
    T_EQ_INT(ward__ring_get(&r, out, sizeof out, &len), 1);
    T_EQ_INT(len, n);
    T_TRUE(memcmp(in, out, n) == 0);
  }
  T_EQ_INT(ward__ring_get(&r, out, sizeof out, &len), 0);
}

static void test_full_and_too_big(void) {
  ward__ring w, r;
  open_pair(&w, &r, CAP);
  char buf[CAP];
  memset(buf, 'x', sizeof buf);
  size_t max = ward__ring_max_payload(CAP);
  T_ERR(ward__ring_put(&w, buf, max + 1, NULL, 0), WARD_ETOOBIG);
  /* 24-byte records (16 of payload): the ring holds CAP / 24 of them. */
  int n = 0;
  while (ward__ring_put(&w, buf, 16, NULL, 0) == 0)
    n++;
  T_EQ_INT(n, CAP / 24);
  T_EQ_INT(ward__ring_put(&w, buf, 16, NULL, 0), 1); /* still full: nothing written */
  size_t len;
  char small[8];
  T_ERR(ward__ring_get(&r, small, sizeof small, &len), WARD_ETOOBIG);
  T_EQ_INT(len, 16); /* and nothing consumed */
  T_EQ_INT(ward__ring_get(&r, buf, sizeof buf, &len), 1);
  T_EQ_INT(ward__ring_put(&w, buf, 16, NULL, 0), 0); /* room again */
  /* The largest payload always fits into an empty ring, wherever it is. */
  while (ward__ring_get(&r, buf, sizeof buf, &len) == 1) {
  }
  for (int i = 0; i < 40; i++) {
    T_EQ_INT(ward__ring_put(&w, buf, max, NULL, 0), 0);
    T_EQ_INT(ward__ring_get(&r, buf, sizeof buf, &len), 1);
    T_EQ_INT(len, max);
    T_EQ_INT(ward__ring_put(&w, buf, (size_t)i, NULL, 0), 0);
    T_EQ_INT(ward__ring_get(&r, buf, sizeof buf, &len), 1);
  }
}

/* What a hostile writer can do to the reader. */
static void test_hostile_writer(void) {
  ward__ring w, r;
  char buf[CAP];
  size_t len;
  static const struct {
    const char *what;
    uint64_t head;  /* the writer's counter as published */
    uint32_t rlen, check;
  } cases[] = {
      {"a head not on 8 bytes", 12, 4, ~4u},
      {"a head more than a ring ahead", CAP + 8, 4, ~4u},
      {"a wrong complement", 16, 4, 5},
      {"a length beyond the published bytes", 16, 64, ~64u},
      {"a length beyond the largest payload", CAP, CAP, ~CAP},
      {"a skip at the start", 16, WARD__RING_SKIP, 0},
      {"a skip with a complement", 16, WARD__RING_SKIP, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    open_pair(&w, &r, CAP);
    memcpy(r.data, &cases[i].rlen, 4);
    memcpy(r.data + 4, &cases[i].check, 4);
    atomic_store(&w.hdr->head, cases[i].head);
    int rv = ward__ring_get(&r, buf, sizeof buf, &len);
    if (rv != WARD_EPROTO)
      T_FAIL("%s: got %d, want WARD_EPROTO", cases[i].what, rv);
  }
  /* A counter that goes back. */
  open_pair(&w, &r, CAP);
  T_OK(ward__ring_put(&w, "abc", 3, NULL, 0));
  T_EQ_INT(ward__ring_get(&r, buf, sizeof buf, &len), 1);
  atomic_store(&w.hdr->head, 0);
  T_ERR(ward__ring_get(&r, buf, sizeof buf, &len), WARD_EPROTO);
  /* A skip that does not reach the end exactly, or a record across it. */
  open_pair(&w, &r, CAP);
  atomic_store(&r.hdr->head, CAP - 16);
  atomic_store(&r.hdr->tail, CAP - 16);
  T_OK(ward__ring_open(&r, mem, CAP, 0));
  uint32_t skip = WARD__RING_SKIP, zero = 0, n = 24, notn = ~24u;
  memcpy(r.data + CAP - 16, &skip, 4);
  memcpy(r.data + CAP - 12, &zero, 4);
  atomic_store(&w.hdr->head, CAP - 8); /* published: less than the skip covers */
  T_ERR(ward__ring_get(&r, buf, sizeof buf, &len), WARD_EPROTO);
  memcpy(r.data + CAP - 16, &n, 4);
  memcpy(r.data + CAP - 12, &notn, 4);
  atomic_store(&w.hdr->head, CAP + 32);
  T_ERR(ward__ring_get(&r, buf, sizeof buf, &len), WARD_EPROTO);
}

/* What a hostile reader can do to the writer. */
static void test_hostile_reader(void) {
  ward__ring w, r;
  open_pair(&w, &r, CAP);
  T_OK(ward__ring_put(&w, "abc", 3, NULL, 0));
  atomic_store(&r.hdr->tail, 64); /* read more than was written */
  T_ERR(ward__ring_put(&w, "abc", 3, NULL, 0), WARD_EPROTO);
  open_pair(&w, &r, CAP);
  atomic_store(&r.hdr->tail, 4); /* not on 8 bytes */
  T_ERR(ward__ring_put(&w, "abc", 3, NULL, 0), WARD_EPROTO);
  open_pair(&w, &r, CAP);
  T_OK(ward__ring_put(&w, "abc", 3, NULL, 0));
  char buf[16];
  size_t len;
  T_EQ_INT(ward__ring_get(&r, buf, sizeof buf, &len), 1);
  T_OK(ward__ring_put(&w, "abc", 3, NULL, 0));
  atomic_store(&r.hdr->tail, 0); /* went back */
  T_ERR(ward__ring_put(&w, "abc", 3, NULL, 0), WARD_EPROTO);
}

/* A writer and a reader on two threads: every record arrives, in order,
 * intact, through a small ring that is full most of the time. */
#define RECORDS 200000
static ward__ring tw, tr;

static void *writer(void *arg) {
  (void)arg;
  uint8_t rec[64];
  for (uint32_t i = 0; i < RECORDS; i++) {
    size_t n = 4 + i % 57;
    memcpy(rec, &i, 4);
    for (size_t k = 4; k < n; k++)
      rec[k] = (uint8_t)(i ^ k);
    int rv;
    while ((rv = ward__ring_put(&tw, rec, 3, rec + 3, n - 3)) == 1)
      sched_yield();
    if (rv)
      return (void *)1;
  }
  return NULL;
}

static void test_two_threads(void) {
  T_OK(ward__ring_open(&tw, mem, 512, 1));
  T_OK(ward__ring_open(&tr, mem, 512, 0));
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, writer, NULL) == 0);
  uint8_t rec[64];
  for (uint32_t i = 0; i < RECORDS;) {
    size_t len;
    int rv = ward__ring_get(&tr, rec, sizeof rec, &len);
    if (rv == 0) {
      sched_yield();
      continue;
    }
    T_EQ_INT(rv, 1);
    uint32_t got;
    memcpy(&got, rec, 4);
    T_EQ_INT(got, i);
    T_EQ_INT(len, 4 + i % 57);
    for (size_t k = 4; k < len; k++)
      if (rec[k] != (uint8_t)(i ^ k))
        T_FAIL("record %u, byte %zu", i, k);
    i++;
  }
  void *rv;
  pthread_join(t, &rv);
  T_TRUE(rv == NULL);
}

int main(void) {
  T_RUN(test_open);
  T_RUN(test_in_order);
  T_RUN(test_full_and_too_big);
  T_RUN(test_hostile_writer);
  T_RUN(test_hostile_reader);
  T_RUN(test_two_threads);
  return t_done();
}
