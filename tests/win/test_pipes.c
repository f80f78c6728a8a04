/*
 * test_pipes.c — the Windows backend's named pipes and loop, from inside
 * (src/win/): a pipe name squatted in advance is refused
 * (FILE_FLAG_FIRST_PIPE_INSTANCE), by a worker's channel and by a server's
 * listener, which serves one client after another, a second client of a
 * worker's channel cannot connect, and the
 * readiness the core relies on is what the emulation over overlapped I/O
 * reports: nothing to read until bytes come, writable again once a full
 * pipe drains, hang-up at the peer's close, level-triggered loop events
 * and wake-ups from another thread. Windows only (cmake/windows.cmake).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "ward_int.h"
#include "win/win.h"

static void pipe_name(wchar_t *out, const wchar_t *what) {
  swprintf(out, 96, L"\\\\.\\pipe\\ward-test-%ls-%lu", what, (unsigned long)GetCurrentProcessId());
}

static void test_squatted_name_refused(void) {
  wchar_t name[96];
  pipe_name(name, L"squat");
  /* Another process would do this first, hoping a worker connects to it.
   * Windows refuses ours at creation (FIRST_PIPE_INSTANCE); Wine lets it be
   * made, and the backend finds its client end reached the squatter. */
  HANDLE squat = CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE,
                                  PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, NULL);
  T_TRUE(squat != INVALID_HANDLE_VALUE);
  HANDLE srv, cli;
  T_ERR(ward__win_pipe_named(name, &srv, &cli, 1, 1), WARD_ESYS);
  T_EQ_INT(ward_last_errno(), ERROR_ACCESS_DENIED);
  CloseHandle(squat);
  /* Once the squatter is gone the name is free again. */
  T_OK(ward__win_pipe_named(name, &srv, &cli, 1, 1));
  CloseHandle(srv);
  CloseHandle(cli);
}

/* A server's listener (ward__unix_listen), past the check that the name
 * is free (ward__unix_claim, which the squatter would answer): its first
 * instance refused at creation on Windows, its own client reaching the
 * squatter under Wine. Without the squatter, the name serves one client
 * after another, each on an instance of its own. */
static void test_server_listener(void) {
  char path[96];
  snprintf(path, sizeof path, "\\\\.\\pipe\\ward-test-listen-%lu",
           (unsigned long)GetCurrentProcessId());
  wchar_t *name = ward__wide(path);
  T_TRUE(name != NULL);
  HANDLE squat = CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE,
                                  PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, NULL);
  T_TRUE(squat != INVALID_HANDLE_VALUE);
  ward__fd lfd;
  T_EQ_INT(ward__unix_listen(path, 0600, 64, &lfd), EADDRINUSE);
  CloseHandle(squat);
  free(name);

  T_EQ_INT(ward__unix_listen(path, 0600, 64, &lfd), 0);
  ward__fd cli[3], conn[3];
  for (int i = 0; i < 3; i++) {
    T_EQ_INT(ward__unix_connect(path, &cli[i]), 0);
    T_TRUE(ward__wait_fd(lfd, WARD__IN, ward__deadline(20000)) > 0);
    T_EQ_INT(ward__accept(lfd, &conn[i]), 1);
    int pid = 0;
    T_EQ_INT(ward__peer_is_us(conn[i], 0, &pid), 1);
    T_EQ_INT(pid, (int)GetCurrentProcessId());
  }
  for (int i = 0; i < 3; i++) {
    char b = (char)('a' + i), got = 0;
    ward__buf buf = {&b, 1};
    T_EQ_INT(ward__sock_send(cli[i], &buf, 1), 1);
    T_TRUE(ward__wait_fd(conn[i], WARD__IN, ward__deadline(20000)) > 0);
    T_EQ_INT(ward__sock_recv(conn[i], &got, 1, 1), 1);
    T_EQ_INT(got, b);
    ward__close(conn[i]);
    ward__close(cli[i]);
  }
  ward__close(lfd);
}

/* A server's listener has a backlog: clients connect while nobody
 * accepts (a server on a loop that does not run), up to the backlog, and
 * are accepted in the order they came; past it a client waits for room. */
static void test_server_backlog(void) {
  enum { N = 5, BACKLOG = 3 };
  char path[96];
  snprintf(path, sizeof path, "\\\\.\\pipe\\ward-test-backlog-%lu",
           (unsigned long)GetCurrentProcessId());
  ward__fd lfd, cli[N], conn;
  T_EQ_INT(ward__unix_listen(path, 0600, 64, &lfd), 0);
  for (int i = 0; i < N; i++) {
    T_EQ_INT(ward__unix_connect(path, &cli[i]), 0);
    char b = (char)('a' + i);
    ward__buf buf = {&b, 1};
    T_EQ_INT(ward__sock_send(cli[i], &buf, 1), 1);
  }
  for (int i = 0; i < N; i++) {
    T_TRUE(ward__wait_fd(lfd, WARD__IN, ward__deadline(20000)) > 0);
    T_EQ_INT(ward__accept(lfd, &conn), 1);
    char got = 0;
    T_EQ_INT(ward__sock_recv(conn, &got, 1, 1), 1);
    T_EQ_INT(got, 'a' + i); /* the oldest first */
    ward__close(conn);
  }
  T_EQ_INT(ward__accept(lfd, &conn), 0);
  T_EQ_INT(ward__wait_fd(lfd, WARD__IN, ward__deadline(50)), 0);
  for (int i = 0; i < N; i++)
    ward__close(cli[i]);
  ward__close(lfd);

  /* A full backlog: the next client finds every instance taken until an
   * accept makes room. */
  T_EQ_INT(ward__unix_listen(path, 0600, BACKLOG, &lfd), 0);
  for (int i = 0; i < BACKLOG; i++)
    T_EQ_INT(ward__unix_connect(path, &cli[i]), 0);
  wchar_t *name = ward__wide(path);
  T_TRUE(name != NULL);
  HANDLE late = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
  T_TRUE(late == INVALID_HANDLE_VALUE);
  T_EQ_INT(GetLastError(), ERROR_PIPE_BUSY);
  free(name);
  T_EQ_INT(ward__accept(lfd, &conn), 1);
  T_EQ_INT(ward__unix_connect(path, &cli[BACKLOG]), 0); /* waits for the room */
  ward__close(conn);
  for (int i = 0; i <= BACKLOG; i++)
    ward__close(cli[i]);
  ward__close(lfd);
}

/* After a shutdown, what the peer wrote before is still read, then the
 * end (a refused client reads its GOODBYE so); a server's end that is shut
 * down lets its peer read what it wrote, then shows it the end, while the
 * connection's object stays. */
static void test_read_after_shutdown(void) {
  ward__fd sv[2];
  T_OK(ward__socketpair(sv));
  ward__buf bye = {"bye", 3};
  T_EQ_INT(ward__sock_send(sv[1], &bye, 1), 3);
  ward__close(sv[1]);
  ward__sock_shutdown(sv[0]);
  char b[8];
  T_EQ_INT(ward__sock_recv(sv[0], b, sizeof b, 0), 3);
  T_EQ_MEM(b, "bye", 3);
  T_EQ_INT(ward__sock_recv(sv[0], b, sizeof b, 0), 0);
  T_EQ_INT(ward__sock_send(sv[0], &bye, 1), WARD_ECRASHED);
  ward__close(sv[0]);

  char path[96];
  snprintf(path, sizeof path, "\\\\.\\pipe\\ward-test-shut-%lu",
           (unsigned long)GetCurrentProcessId());
  ward__fd lfd, cli, conn;
  T_EQ_INT(ward__unix_listen(path, 0600, 64, &lfd), 0);
  T_EQ_INT(ward__unix_connect(path, &cli), 0);
  T_TRUE(ward__wait_fd(lfd, WARD__IN, ward__deadline(20000)) > 0);
  T_EQ_INT(ward__accept(lfd, &conn), 1);
  T_EQ_INT(ward__sock_send(conn, &bye, 1), 3);
  T_TRUE(ward__wait_fd(conn, WARD__OUT, ward__deadline(20000)) > 0); /* its write is through */
  ward__sock_shutdown(conn);
  T_TRUE(ward__wait_fd(cli, WARD__IN, ward__deadline(20000)) > 0);
  T_EQ_INT(ward__sock_recv(cli, b, sizeof b, 1), 3);
  T_EQ_MEM(b, "bye", 3);
  T_EQ_INT(ward__sock_recv(cli, b, sizeof b, 1), 0);
  ward__close(conn);
  ward__close(cli);
  ward__close(lfd);
}

static void test_second_client_refused(void) {
  wchar_t name[96];
  pipe_name(name, L"second");
  HANDLE srv, cli;
  T_OK(ward__win_pipe_named(name, &srv, &cli, 1, 1));
  HANDLE other = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
  T_TRUE(other == INVALID_HANDLE_VALUE);
  T_EQ_INT(GetLastError(), ERROR_PIPE_BUSY);
  CloseHandle(srv);
  CloseHandle(cli);
}

static void test_readable_when_bytes_come(void) {
  ward__fd sv[2];
  T_OK(ward__socketpair(sv));
  char b[16];
  T_EQ_INT(ward__sock_recv(sv[0], b, sizeof b, 0), WARD__AGAIN);
  T_EQ_INT(ward__wait_fd(sv[0], WARD__IN, ward__deadline(50)), 0);
  ward__buf out = {"hello", 5};
  T_EQ_INT(ward__sock_send(sv[1], &out, 1), 5);
  T_EQ_INT(ward__wait_fd(sv[0], WARD__IN, ward__deadline(10000)), WARD__IN);
  T_EQ_INT(ward__sock_recv(sv[0], b, sizeof b, 0), 5);
  T_EQ_MEM(b, "hello", 5);
  T_EQ_INT(ward__sock_recv(sv[0], b, sizeof b, 0), WARD__AGAIN);
  ward__close(sv[0]);
  ward__close(sv[1]);
}

static void test_writable_when_drained(void) {
  ward__fd sv[2];
  T_OK(ward__socketpair(sv));
  static char big[1 << 20];
  memset(big, 'x', sizeof big);
  ward__buf out = {big, sizeof big};
  /* Nobody reads: the pipe fills and the sends say so. */
  ptrdiff_t sent = 0, w;
  while ((w = ward__sock_send(sv[0], &out, 1)) > 0)
    sent += w;
  T_EQ_INT(w, 0);
  T_EQ_INT(ward__wait_fd(sv[0], WARD__OUT, ward__deadline(50)), 0);
  /* The reader takes everything; the writer is writable again. */
  static char in[1 << 16];
  ptrdiff_t got = 0;
  while (got < sent) {
    ptrdiff_t r = ward__sock_recv(sv[1], in, sizeof in, 1);
    T_TRUE(r > 0);
    got += r;
  }
  T_EQ_INT(got, sent);
  T_EQ_INT(ward__wait_fd(sv[0], WARD__OUT, ward__deadline(10000)), WARD__OUT);
  ward__close(sv[0]);
  ward__close(sv[1]);
}

static void test_hangup_at_close(void) {
  ward__fd sv[2];
  T_OK(ward__socketpair(sv));
  ward__close(sv[1]);
  T_EQ_INT(ward__wait_fd(sv[0], WARD__IN, ward__deadline(10000)), WARD__IN | WARD__HUP);
  char b[4];
  T_EQ_INT(ward__sock_recv(sv[0], b, sizeof b, 0), 0);
  ward__buf out = {"x", 1};
  T_EQ_INT(ward__sock_send(sv[0], &out, 1), WARD_ECRASHED);
  ward__close(sv[0]);
}

static void test_loop_level_triggered(void) {
  ward__loop *l;
  T_OK(ward__loop_new(&l, 0));
  ward__fd sv[2];
  T_OK(ward__socketpair(sv));
  int tag;
  T_OK(ward__loop_add(l, sv[0], WARD__IN, &tag));
  ward__loop_event ev[8];
  T_EQ_INT(ward__loop_wait(l, ev, 8, 50), 0);
  ward__buf out = {"ab", 2};
  T_EQ_INT(ward__sock_send(sv[1], &out, 1), 2);
  T_EQ_INT(ward__loop_wait(l, ev, 8, 10000), 1);
  T_TRUE(ev[0].ptr == &tag && (ev[0].events & WARD__IN));
  char b;
  T_EQ_INT(ward__sock_recv(sv[0], &b, 1, 0), 1);
  /* One byte is still there: reported again, with no new packet. */
  T_EQ_INT(ward__loop_wait(l, ev, 8, 0), 1);
  T_EQ_INT(ward__sock_recv(sv[0], &b, 1, 0), 1);
  T_EQ_INT(ward__loop_wait(l, ev, 8, 50), 0);
  /* Watching for nothing: nothing reported though bytes come. */
  ward__loop_del(l, sv[0]);
  T_EQ_INT(ward__sock_send(sv[1], &out, 1), 2);
  T_EQ_INT(ward__loop_wait(l, ev, 8, 50), 0);
  ward__close(sv[0]);
  ward__close(sv[1]);
  ward__loop_free(l);
}

static void *wake_later(void *arg) {
  Sleep(100);
  ward__loop_wake(arg);
  return NULL;
}

/* A wake-up from another thread ends a wait that would last 10 s, once. */
static void wake_from_another_thread(int pollable) {
  ward__loop *l;
  T_OK(ward__loop_new(&l, pollable));
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, wake_later, l) == 0);
  ward__loop_event ev[8];
  int64_t t0 = ward__now_ms();
  T_EQ_INT(ward__loop_wait(l, ev, 8, 10000), 0);
  T_TRUE(ward__now_ms() - t0 < 5000);
  pthread_join(t, NULL);
  t0 = ward__now_ms();
  T_EQ_INT(ward__loop_wait(l, ev, 8, 200), 0);
  T_TRUE(ward__now_ms() - t0 >= 190); /* that wake-up is spent */
  ward__loop_free(l);
}

static void test_wake_from_another_thread(void) { wake_from_another_thread(0); }
static void test_wake_pollable_loop(void) { wake_from_another_thread(1); }

int main(void) {
  T_RUN(test_squatted_name_refused);
  T_RUN(test_second_client_refused);
  T_RUN(test_server_listener);
  T_RUN(test_server_backlog);
  T_RUN(test_read_after_shutdown);
  T_RUN(test_readable_when_bytes_come);
  T_RUN(test_writable_when_drained);
  T_RUN(test_hangup_at_close);
  T_RUN(test_loop_level_triggered);
  T_RUN(test_wake_from_another_thread);
  T_RUN(test_wake_pollable_loop);
  return t_done();
}
