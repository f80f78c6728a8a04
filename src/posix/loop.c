/*
 * loop.c — the event loop on poll(), for any POSIX system (the portable
 * backend).
 *
 * Design notes
 * ------------
 * poll() keeps no set in the kernel: the loop keeps the watches in an
 * array under its mutex, and each wait polls a copy of it, with a
 * self-pipe first. A change to the set, the timer or a wake-up writes to
 * that pipe when a wait is under way, so that the wait starts again with
 * what changed (epoll takes changes while it waits; this is the price of
 * poll). What a wait found is reported only for watches still registered
 * with the same pointer when it returns, so a watch removed meanwhile is
 * never reported, as with epoll.
 *
 * The timer is the loop's own: a wait is bounded by its due time, and
 * once due it is reported at each wait until it is armed again.
 *
 * A pollable loop (a host on the program's own loop) must offer one
 * descriptor that is readable whenever a wait would report something.
 * Without a kernel set to poll, a thread of the loop's (the watcher)
 * polls the same watches and the timer and then writes a byte to a pipe
 * whose read end is that descriptor; it then waits until a wait of the
 * loop has run (the program dispatched), and polls again. So the
 * descriptor is level-triggered, as an epoll descriptor is: readable for
 * as long as something is ready and nobody has dispatched.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "unix.h"
#include "ward_int.h"

typedef struct entry {
  int fd;
  int events; /* WARD__IN | WARD__OUT */
  void *ptr;
} entry;

/* A copy of the set to poll, with room for the self-pipe first. */
typedef struct scratch {
  struct pollfd *pfd;
  void **ptr;
  size_t cap;
} scratch;

struct ward__loop {
  pthread_mutex_t mu;
  entry *ents;
  size_t n, cap;
  size_t *slot;  /* fd -> index in ents + 1 (0: not watched) */
  size_t nslot;
  int wake[2];   /* interrupts the wait under way */
  int polling;   /* a wait is in poll() */
  int64_t due;   /* the timer: INT64_MAX when disarmed */
  void *tptr;
  scratch own;   /* the waiting thread's copy */
  /* A pollable loop's watcher (see the design notes). */
  int pollable;
  int ready[2];  /* ready[0] is ward__loop_fd */
  int wwake[2];  /* interrupts the watcher's poll */
  int wpolling;
  int signalled; /* ready[0] is readable: the watcher waits for a wait */
  int stop;
  pthread_cond_t cond;
  pthread_t watcher;
  int has_watcher;
  scratch wsc;
};

static int self_pipe(int p[2]) {
  int rv = ward__pipe(p);
  if (!rv)
    rv = ward__set_nonblock(p[1], 1);
  return rv;
}

static void pipe_close(int p[2]) {
  ward__close(p[0]);
  ward__close(p[1]);
  p[0] = p[1] = -1;
}

static void pipe_poke(int fd) {
  char b = 1;
  while (write(fd, &b, 1) < 0 && errno == EINTR) {
  }
}

static void pipe_drain(int fd) {
  char b[64];
  while (read(fd, b, sizeof b) > 0) {
  }
}

/* Makes whoever polls start again with what changed (mu held). */
static void kick(ward__loop *l) {
  if (l->polling)
    pipe_poke(l->wake[1]);
  if (l->wpolling)
    pipe_poke(l->wwake[1]);
}

static short to_poll(int events) {
  return (short)(((events & WARD__IN) ? POLLIN : 0) | ((events & WARD__OUT) ? POLLOUT : 0));
}

static int from_poll(short re) {
  return ((re & POLLIN) ? WARD__IN : 0) | ((re & POLLOUT) ? WARD__OUT : 0) |
         ((re & (POLLHUP | POLLERR | POLLNVAL)) ? WARD__HUP : 0);
}

/* Copies the set into `sc` after `first` (mu held); its size, or -1. */
static int snapshot(ward__loop *l, scratch *sc, int first) {
  if (l->n + 1 > sc->cap) {
    size_t cap = (l->n + 1) * 2;
    struct pollfd *pfd = realloc(sc->pfd, cap * sizeof *pfd);
    if (pfd)
      sc->pfd = pfd;
    void **ptr = realloc(sc->ptr, cap * sizeof *ptr);
    if (ptr)
      sc->ptr = ptr;
    if (!pfd || !ptr)
      return -1;
    sc->cap = cap;
  }
  sc->pfd[0] = (struct pollfd){.fd = first, .events = POLLIN};
  sc->ptr[0] = NULL;
  for (size_t i = 0; i < l->n; i++) {
    sc->pfd[i + 1] = (struct pollfd){.fd = l->ents[i].fd, .events = to_poll(l->ents[i].events)};
    sc->ptr[i + 1] = l->ents[i].ptr;
  }
  return (int)l->n + 1;
}

/* The poll timeout: `timeout_ms` bounded by the timer (mu held). */
static int bounded(const ward__loop *l, int timeout_ms, int64_t now) {
  if (l->due == INT64_MAX)
    return timeout_ms;
  int64_t left = l->due - now;
  if (left < 0)
    left = 0;
  if (left > INT_MAX)
    left = INT_MAX;
  return timeout_ms < 0 || left < timeout_ms ? (int)left : timeout_ms;
}

static void *watch_main(void *arg) {
  ward__loop *l = arg;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (l->signalled && !l->stop)
      pthread_cond_wait(&l->cond, &l->mu);
    if (l->stop)
      break;
    int n = snapshot(l, &l->wsc, l->wwake[0]);
    int timeout = bounded(l, -1, ward__now_ms());
    l->wpolling = 1;
    pthread_mutex_unlock(&l->mu);
    int r = n < 0 ? 0 : poll(l->wsc.pfd, (nfds_t)n, timeout);
    if (n < 0)
      ward__sleep_ms(10); /* out of memory for the copy: try again soon */
    pthread_mutex_lock(&l->mu);
    l->wpolling = 0;
    if (r <= 0 && !(l->due != INT64_MAX && ward__now_ms() >= l->due))
      continue; /* nothing (or EINTR): look again */
    if (l->wsc.pfd[0].revents)
      pipe_drain(l->wwake[0]);
    int any = l->due != INT64_MAX && ward__now_ms() >= l->due;
    for (int i = 1; i < n && !any; i++)
      any = l->wsc.pfd[i].revents != 0;
    if (any) {
      l->signalled = 1;
      pipe_poke(l->ready[1]);
    }
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

static int start_watcher(ward__loop *l) {
  int rv = self_pipe(l->ready);
  if (!rv)
    rv = self_pipe(l->wwake);
  if (rv)
    return rv;
  /* The watcher takes no signals: they stay the program's business. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int e = pthread_create(&l->watcher, NULL, watch_main, l);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e)
    return ward__fail_sys(WARD_ESYS, e, "pthread_create (loop watcher)");
  l->has_watcher = 1;
  return 0;
}

int ward__loop_new(ward__loop **out, int pollable) {
  ward__loop *l = calloc(1, sizeof *l);
  if (!l)
    return WARD_ENOMEM;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cond, NULL);
  l->wake[0] = l->wake[1] = l->ready[0] = l->ready[1] = l->wwake[0] = l->wwake[1] = -1;
  l->due = INT64_MAX;
  l->pollable = pollable;
  int rv = self_pipe(l->wake);
  if (!rv && pollable)
    rv = start_watcher(l);
  if (rv) {
    ward__loop_free(l);
    return rv;
  }
  *out = l;
  return 0;
}

void ward__loop_free(ward__loop *l) {
  if (!l)
    return;
  if (l->has_watcher) {
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_signal(&l->cond);
    pipe_poke(l->wwake[1]);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->watcher, NULL);
  }
  pipe_close(l->wake);
  pipe_close(l->ready);
  pipe_close(l->wwake);
  free(l->ents);
  free(l->slot);
  free(l->own.pfd);
  free(l->own.ptr);
  free(l->wsc.pfd);
  free(l->wsc.ptr);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cond);
  free(l);
}

ward__fd ward__loop_fd(const ward__loop *l) { return l->ready[0]; }

static size_t slot_of(const ward__loop *l, int fd) {
  return fd >= 0 && (size_t)fd < l->nslot ? l->slot[fd] : 0;
}

int ward__loop_add(ward__loop *l, ward__fd fd, int events, void *ptr) {
  if (fd < 0)
    return ward__fail_sys(WARD_ESYS, EBADF, "loop add");
  pthread_mutex_lock(&l->mu);
  int rv = 0;
  if (slot_of(l, fd)) {
    rv = ward__fail_sys(WARD_ESYS, EEXIST, "loop add");
  } else if ((size_t)fd >= l->nslot) {
    size_t n = ((size_t)fd + 1) * 2;
    size_t *s = realloc(l->slot, n * sizeof *s);
    if (!s) {
      rv = WARD_ENOMEM;
    } else {
      for (size_t i = l->nslot; i < n; i++)
        s[i] = 0;
      l->slot = s;
      l->nslot = n;
    }
  }
  if (!rv && l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    entry *e = realloc(l->ents, cap * sizeof *e);
    if (!e)
      rv = WARD_ENOMEM;
    else
      l->ents = e, l->cap = cap;
  }
  if (!rv) {
    l->ents[l->n] = (entry){fd, events, ptr};
    l->slot[fd] = ++l->n;
    kick(l);
  }
  pthread_mutex_unlock(&l->mu);
  return rv;
}

int ward__loop_mod(ward__loop *l, ward__fd fd, int events, void *ptr) {
  pthread_mutex_lock(&l->mu);
  size_t s = slot_of(l, fd);
  if (s) {
    entry *e = &l->ents[s - 1];
    if (e->events != events || e->ptr != ptr) {
      e->events = events;
      e->ptr = ptr;
      kick(l);
    }
  }
  pthread_mutex_unlock(&l->mu);
  return s ? 0 : ward__fail_sys(WARD_ESYS, ENOENT, "loop mod");
}

void ward__loop_del(ward__loop *l, ward__fd fd) {
  pthread_mutex_lock(&l->mu);
  size_t s = slot_of(l, fd);
  if (s) {
    /* The last entry takes the place of the removed one. */
    entry last = l->ents[--l->n];
    l->slot[fd] = 0;
    if (s - 1 < l->n) {
      l->ents[s - 1] = last;
      l->slot[last.fd] = s;
    }
    kick(l);
  }
  pthread_mutex_unlock(&l->mu);
}

int ward__loop_wait(ward__loop *l, ward__loop_event *evs, int max, int timeout_ms) {
  pthread_mutex_lock(&l->mu);
  int n = snapshot(l, &l->own, l->wake[0]);
  if (n < 0) {
    pthread_mutex_unlock(&l->mu);
    return WARD_ENOMEM;
  }
  int timeout = bounded(l, timeout_ms, ward__now_ms());
  l->polling = 1;
  pthread_mutex_unlock(&l->mu);
  int r = poll(l->own.pfd, (nfds_t)n, timeout);
  int err = errno;
  pthread_mutex_lock(&l->mu);
  l->polling = 0;
  int k = 0;
  if (r < 0 && err != EINTR) {
    k = ward__fail_sys(WARD_ESYS, err, "poll");
  } else if (r > 0) {
    if (l->own.pfd[0].revents)
      pipe_drain(l->wake[0]);
    for (int i = 1; i < n && k < max; i++) {
      short re = l->own.pfd[i].revents;
      size_t s = re ? slot_of(l, l->own.pfd[i].fd) : 0;
      if (!s || l->ents[s - 1].ptr != l->own.ptr[i])
        continue; /* nothing, or no longer watched so */
      evs[k++] = (ward__loop_event){l->own.ptr[i], from_poll(re)};
    }
  }
  if (k >= 0 && k < max && l->due != INT64_MAX && ward__now_ms() >= l->due)
    evs[k++] = (ward__loop_event){l->tptr, WARD__IN};
  if (l->signalled) {
    /* A wait has run: the program's descriptor is read, and the watcher
     * looks again. */
    pipe_drain(l->ready[0]);
    l->signalled = 0;
    pthread_cond_signal(&l->cond);
  }
  pthread_mutex_unlock(&l->mu);
  return k;
}

int ward__loop_timer(ward__loop *l, int64_t ms, void *ptr) {
  pthread_mutex_lock(&l->mu);
  l->due = ms < 0 ? INT64_MAX : ward__now_ms() + ms;
  l->tptr = ptr;
  kick(l);
  pthread_mutex_unlock(&l->mu);
  return 0;
}

void ward__loop_wake(ward__loop *l) {
  /* Always written, not only while a wait polls: a wake-up before the
   * wait must make it return at once. */
  pipe_poke(l->wake[1]);
  if (l->pollable) {
    /* The program's loop must run ours: its descriptor says so. */
    pthread_mutex_lock(&l->mu);
    if (!l->signalled) {
      l->signalled = 1;
      pipe_poke(l->ready[1]);
    }
    pthread_mutex_unlock(&l->mu);
  }
}
