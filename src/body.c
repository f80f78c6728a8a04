/*
 * body.c — memory for frame bodies, with a one-slot cache for big ones.
 *
 * A body of several megabytes is an mmap'd block to malloc: freeing it
 * unmaps it, and the next one is mapped and faulted in afresh, page by
 * page. For a program that moves 64 MiB messages back and forth that
 * costs more than the copies. So the last big body freed is kept (one,
 * at most 256 MiB) and reused by the next big frame that fits in it, until
 * a host or client is freed.
 */
#include <pthread.h>
#include <stdlib.h>

#include "platform.h"
#include "proto.h"

#define BIG (1u << 20)          /* smaller bodies are malloc's business */
#define KEEP_MAX (256u << 20)   /* larger ones are not worth keeping */

static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static void *spare;
static size_t spare_cap;

void *ward__body_alloc(size_t n) {
  if (n >= BIG) {
    pthread_mutex_lock(&spare_mu);
    void *p = NULL;
    if (spare && spare_cap >= n && spare_cap / 2 <= n) {
      p = spare;
      spare = NULL;
      spare_cap = 0;
    }
    pthread_mutex_unlock(&spare_mu);
    if (p)
      return p;
  }
  return malloc(n ? n : 1);
}

void ward__body_free(void *p) {
  if (!p)
    return;
  size_t cap = ward__mem_usable(p);
  if (cap >= BIG && cap <= KEEP_MAX) {
    pthread_mutex_lock(&spare_mu);
    void *old = NULL;
    if (!spare || spare_cap < cap) {
      old = spare;
      spare = p;
      spare_cap = cap;
      p = NULL;
    }
    pthread_mutex_unlock(&spare_mu);
    free(old);
  }
  free(p);
}

size_t ward__body_trim(void) {
  pthread_mutex_lock(&spare_mu);
  void *old = spare;
  size_t cap = spare_cap;
  spare = NULL;
  spare_cap = 0;
  pthread_mutex_unlock(&spare_mu);
  free(old);
  return cap;
}
