/*
 * worker.h — what host.c and worker.c call of each other.
 */
#ifndef WARD_WORKER_H
#define WARD_WORKER_H

#include "host_int.h"

/* host.c */
void ward__host_wake(ward_host *h);
int ward__on_io_thread(const ward_host *h);
/* Waits until the loop has gone round twice: afterwards no batch, task or
 * event refers to what was unlinked before. No-op on the loop thread. */
void ward__host_sync(ward_host *h);
/* Queues an event (lock held). */
void ward__host_event(ward_host *h, ward_worker *w, int type, int pid, int code, int sig,
                      int reason, int error, const char *detail);
/* Queues a request or notification for a host handler (lock not held). */
void ward__host_task(ward_host *h, ward_worker *w, ward__conn *c, ward__item *it);
void ward__host_cancel_task(ward_host *h, ward__conn *c, uint32_t id);
/* Hands the loop's reference of a closed conn to be dropped after the
 * current batch (lock held). */
void ward__host_dead_conn(ward_host *h, ward__conn *c);

/* worker.c, on the loop thread */
/* Starts queued workers and returns the loop's timeout (lock held). */
int ward__workers_prepare(ward_host *h);
void ward__workers_check_deadlines(ward_host *h);
void ward__worker_on_exit(ward_worker *w);
void ward__worker_on_accept(ward_worker *w);
/* Frees a worker that nothing refers to any more. */
void ward__worker_destroy(ward_worker *w);

#endif
