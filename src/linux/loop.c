/*
 * loop.c — the event loop on epoll, its timer on a timerfd and its
 * eventfd wake-up (Linux).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "platform.h"
#include "ward_int.h"

static uint32_t to_epoll(int events) {
  uint32_t e = 0;
  if (events & WARD__IN)
    e |= EPOLLIN | EPOLLRDHUP;
  if (events & WARD__OUT)
    e |= EPOLLOUT;
  return e;
}

struct ward__loop {
  int epfd;
  int wfd;   /* the eventfd of ward__loop_wake, watched with the loop as ptr */
  int tfd;   /* the timer, made at its first arming, or -1 */
  void *tptr;
};

int ward__loop_new(ward__loop **out, int pollable) {
  (void)pollable; /* an epoll descriptor can always be polled */
  ward__loop *l = malloc(sizeof *l);
  if (!l)
    return WARD_ENOMEM;
  l->tfd = l->wfd = -1;
  l->tptr = NULL;
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0) {
    int e = errno;
    free(l);
    return ward__fail_sys(WARD_ESYS, e, "epoll_create1");
  }
  l->wfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (l->wfd < 0) {
    int e = errno;
    ward__loop_free(l);
    return ward__fail_sys(WARD_ESYS, e, "eventfd");
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
  if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wfd, &ev) < 0) {
    int e = errno;
    ward__loop_free(l);
    return ward__fail_sys(WARD_ESYS, e, "epoll_ctl");
  }
  *out = l;
  return 0;
}

void ward__loop_free(ward__loop *l) {
  if (!l)
    return;
  ward__close(l->tfd);
  ward__close(l->wfd);
  ward__close(l->epfd);
  free(l);
}

ward__fd ward__loop_fd(const ward__loop *l) { return l->epfd; }

static int loop_ctl(ward__loop *l, int op, int fd, int events, void *ptr) {
  struct epoll_event ev = {.events = to_epoll(events), .data.ptr = ptr};
  if (epoll_ctl(l->epfd, op, fd, &ev) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "epoll_ctl");
  return 0;
}

int ward__loop_add(ward__loop *l, ward__fd fd, int events, void *ptr) {
  return loop_ctl(l, EPOLL_CTL_ADD, fd, events, ptr);
}

int ward__loop_mod(ward__loop *l, ward__fd fd, int events, void *ptr) {
  return loop_ctl(l, EPOLL_CTL_MOD, fd, events, ptr);
}

void ward__loop_del(ward__loop *l, ward__fd fd) { epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL); }

int ward__loop_wait(ward__loop *l, ward__loop_event *evs, int max, int timeout_ms) {
  struct epoll_event eev[64];
  if (max > 64)
    max = 64;
  int n;
  do
    n = epoll_wait(l->epfd, eev, max, timeout_ms);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return ward__fail_sys(WARD_ESYS, errno, "epoll_wait");
  int k = 0;
  for (int i = 0; i < n; i++) {
    uint32_t e = eev[i].events;
    if (eev[i].data.ptr == l) { /* a wake-up: it has done its work */
      uint64_t v;
      while (read(l->wfd, &v, sizeof v) > 0) {
      }
      continue;
    }
    evs[k].ptr = eev[i].data.ptr;
    evs[k].events = ((e & EPOLLIN) ? WARD__IN : 0) | ((e & EPOLLOUT) ? WARD__OUT : 0) |
                    ((e & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) ? WARD__HUP : 0);
    k++;
  }
  return k;
}

/* A timerfd in the epoll set: readable once due, until set again (setting
 * it clears what expired), which is the level the contract asks for. */
int ward__loop_timer(ward__loop *l, int64_t ms, void *ptr) {
  if (l->tfd < 0 || l->tptr != ptr) {
    if (l->tfd < 0) {
      l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
      if (l->tfd < 0)
        return ward__fail_sys(WARD_ESYS, errno, "timerfd_create");
      if (loop_ctl(l, EPOLL_CTL_ADD, l->tfd, WARD__IN, ptr))
        return WARD_ESYS;
    } else if (loop_ctl(l, EPOLL_CTL_MOD, l->tfd, WARD__IN, ptr)) {
      return WARD_ESYS;
    }
    l->tptr = ptr;
  }
  struct itimerspec it = {{0, 0}, {0, 0}};
  if (ms == 0) {
    it.it_value.tv_nsec = 1; /* as soon as possible: all zeros would disarm */
  } else if (ms > 0) {
    it.it_value.tv_sec = ms / 1000;
    it.it_value.tv_nsec = (ms % 1000) * 1000000;
  }
  timerfd_settime(l->tfd, 0, &it, NULL);
  return 0;
}

void ward__loop_wake(ward__loop *l) {
  uint64_t one = 1;
  ssize_t r;
  do
    r = write(l->wfd, &one, sizeof one);
  while (r < 0 && errno == EINTR);
}
