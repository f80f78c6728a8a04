/*
 * tslogsvc.h — a service that sends log records, for the tests that run
 * the daemon (test_daemon, test_http): the test binary runs it when given
 * "--svc-logs" (svc_logs_main). Include it in one test file only.
 */
#ifndef WARD_TSLOGSVC_H
#define WARD_TSLOGSVC_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <ward.h>

/* A service that sends log records (docs/protocol.md 8.4): two at its
 * start, and one each time it gets SIGUSR1 (a thread of its own waits for
 * it, the signal blocked everywhere else). */
static ward_client *svc_logs_client;

static void *svc_logs_on_usr1(void *arg) {
  sigset_t *set = arg;
  for (int sig; sigwait(set, &sig) == 0;)
    ward_client_log(svc_logs_client, WARD_LEVEL_ERROR, "got usr1",
                    (ward_log_field[]){{"signal", "USR1"}}, 1);
  return NULL;
}

static int svc_logs_main(void) {
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (ward_client_connect(&svc_logs_client))
    return 2;
  ward_log_field f[] = {{"ms", "250"}, {"path", "/a b"}};
  if (ward_client_log(svc_logs_client, WARD_LEVEL_INFO, "started", NULL, 0) ||
      ward_client_log(svc_logs_client, WARD_LEVEL_WARN, "disk slow", f, 2))
    return 3;
  printf("a plain line\n");
  fflush(stdout);
  pthread_t t;
  pthread_create(&t, NULL, svc_logs_on_usr1, &set);
  ward_client_run(svc_logs_client); /* serves (nothing) until stopped */
  _exit(0); /* the signal thread still waits */
}

#endif
