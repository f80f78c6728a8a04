/*
 * worker.h — what the host's files (host.c, loop.c, worker.c,
 * supervise.c, call.c) call of each other. "Lock held" means the host mutex.
 */
#ifndef WARD_WORKER_H
#define WARD_WORKER_H

#include "host_int.h"

/* host.c and loop.c */
void ward__host_wake(ward_host *h);
int ward__on_io_thread(const ward_host *h);
/* Waits on the host's condition (lock held) until signalled or the
 * deadline; with an external loop that no one is running, runs it for a
 * while instead. Returns WARD_ETIMEDOUT once the deadline has passed. */
int ward__host_wait(ward_host *h, int64_t deadline);
/* External loop: if work is queued and no one runs the loop, runs one
 * turn of it on this thread without waiting. */
void ward__host_run_pending(ward_host *h);
/* Waits until the loop has gone round twice: afterwards no batch, task or
 * event refers to what was unlinked before. No-op on the loop thread. */
void ward__host_sync(ward_host *h);
/* Queues an event (lock held); returns its queue entry, for more fields,
 * or NULL without memory. */
struct ward__evq *ward__host_event(ward_host *h, ward_worker *w, int type, int pid, int code,
                                   int sig, int reason, int error, const char *detail);
/* Queues a request or notification for a host handler, or an async call
 * with news, for the loop (any locks held). */
void ward__host_task(ward_host *h, ward_worker *w, ward__conn *c, ward__item *it,
                     ward__call *call);
void ward__host_cancel_task(ward_host *h, ward__conn *c, uint32_t id);
/* Hands the loop's reference of a closed conn to be dropped after the
 * current batch (lock held). */
void ward__host_dead_conn(ward_host *h, ward__conn *c);
/* Handles the connections that closed so far (loop thread, no lock). */
void ward__host_run_closed(ward_host *h);
/* A connection closed (any thread, any lock): queued for the loop. */
void ward__host_closed(ward_host *h, ward__conn *c, void (*closed)(ward__conn *c));
/* Jobs for the loop's next turn (lock held): queues one (the caller wakes
 * the loop), or takes it out of the queue. */
void ward__job_queue(ward_host *h, ward__job *job);
void ward__job_cancel(ward_host *h, ward__job *job);
/* The loop's timers (lock held): arms `t` for `due` (INT64_MAX: disarms),
 * or disarms it. */
void ward__timer_set(ward_host *h, ward__timer *t, int64_t due);
void ward__timer_remove(ward_host *h, ward__timer *t);

/* worker.c, on the loop thread */
/* Any thread, lock held: queues the start of a worker the machine has
 * QUEUED for the loop's next turn, unless it is queued already (the caller
 * wakes the loop). */
void ward__worker_queue(ward_worker *w);
/* Looks whether the process has exited, and reaps it if so. */
void ward__worker_on_exit(ward_worker *w);

/* If the current connection was closed for a protocol violation that is
 * not reported yet, reports it now and kills the process for it, so that
 * its exit reason is settled before anything else happens to the worker
 * (lock held). */
void ward__worker_settle_violation(ward_worker *w);
/* Records why the first start failed; the first reason wins (lock held). */
void ward__worker_spawn_err(ward_worker *w, int err, int sys_errno, const char *text);
/* Takes the worker out of the host's list, start queue and group (lock
 * held). */
void ward__worker_unlink(ward_host *h, ward_worker *w);
/* Frees a worker that nothing refers to any more (its spares with it). */
void ward__worker_destroy(ward_worker *w);
/* Exchanges the processes of a worker and a hidden handle of its (lock
 * held, loop thread, between turns): process, channel, output pipes,
 * readiness descriptors, sandbox figures, each watched by the loop for
 * its new holder. Connections keep the worker as their owner. */
void ward__worker_swap(ward_worker *a, ward_worker *b);

/* supervise.c: a handle with its defaults, in no list (no lock needed). */
ward_worker *ward__worker_alloc(ward_host *h, const ward_spec *spec);

/* spare.c (lock held) */
/* After a step of `w`'s machine (from `was`, `readies_was` readies): a
 * spare's readiness is counted for its worker; a worker's spares are
 * started once it is ready and stopped when it comes to rest. */
void ward__spares_after(ward_worker *w, ward__lstate was, uint32_t readies_was);
/* A queued start of `w` (loop thread): a ready spare takes over, and 1 is
 * returned; 0: none is ready, start a process. */
int ward__spares_adopt(ward_worker *w);
/* Whether none of the worker's spares is still stopping. */
int ward__spares_stopped(const ward_worker *w);
/* Waits until the worker's spares have stopped (after its stop). */
void ward__spares_wait_stopped(ward_worker *w);
/* Takes the spares' timers out of the heap (the worker is being freed). */
void ward__spares_unlink(ward_worker *w);
/* Frees the worker's spares, stopped (ward__worker_destroy). */
void ward__spares_destroy(ward_worker *w);
/* Whether one of the worker's spares has process `pid`. */
int ward__spares_own_pid(const ward_worker *w, int pid);
/* A call on a connection other than the current one ended (lock held):
 * a replacement waiting for the old process's calls looks again. */
void ward__spares_old_call_done(ward_worker *w);

/* handshake.c (lock held): `to` takes the methods and metadata of `from`'s
 * handshake, as a new handshake of its own. */
void ward__worker_take_hello(ward_worker *to, ward_worker *from);

/* handshake.c */
/* A HELLO on the worker's connection: checks it, adopts it and welcomes
 * the worker, or refuses it (loop thread or a reading caller, no lock). */
int ward__worker_hello(ward_worker *w, ward__conn *c, const ward__frame *f);
void ward__meta_free(ward__meta *m, size_t n);

/* output.c (lock held unless said) */
/* Pipes for a capturing spec (`how`: what the child's stdout and stderr
 * become), and their watches once the process runs. */
int ward__output_open(ward_worker *w, int how[2], ward__fd child[2]);
int ward__output_watch(ward_worker *w);
/* Reads what a pipe holds; `final`: the process is gone, flush the last
 * partial line. */
void ward__output_read(ward_worker *w, int stream, int final);
void ward__output_close(ward_worker *w, int stream);
/* Writes the forwarded lines to the host's stderr (no lock). */
void ward__output_forward(ward_worker *w);
/* The lines stored in the ring of `x`, a hidden handle of `w`'s (what a
 * spare wrote before it took over, a replacement before the swap, an old
 * process after it), become new lines of `w`'s, of generation `gen` (0:
 * as they were), with their events. */
void ward__output_take(ward_worker *w, ward_worker *x, uint32_t gen);
/* A LOG frame's record into the ring (lock not held); WARD_EPROTO for a
 * payload that is no record. */
int ward__output_record(ward_worker *w, const ward__conn *c, const ward__frame *f);

/* How often a process without a pidfd is looked at for its exit. */
#define WARD__REAP_POLL_MS 5

/* group.c (lock held) */
/* After a member's step: a failure to decide on, a restart to move on. */
void ward__group_after(ward_group *g, ward_worker *w, const ward__lout *o, int64_t now);
/* Adds a new member, last in start order. */
int ward__group_add(ward_group *g, ward_worker *w);
/* Takes a member out (it is being freed). */
void ward__group_remove(ward_group *g, ward_worker *w);
/* Unlinks the group from its host and frees it. */
void ward__group_destroy(ward_group *g);
const char *ward__group_name(const ward_group *g);
ward_host *ward__group_host(const ward_group *g);

/* supervise.c */
/* Feeds the worker's state machine one event (`ev->now` 0: now) and
 * carries out what it decides; `out` (may be NULL) gets the decision
 * (lock held). The only way a worker's state changes. */
void ward__worker_post(ward_worker *w, ward__lev *ev, ward__lout *out);
/* Recomputes when the loop must next look at the worker (lock held). */
void ward__worker_schedule(ward_worker *w);
/* The loop's timer fired for this worker (lock not held). */
void ward__worker_tick(ward_worker *w, int64_t now);

/* The public state (ward_state), cheaply (no /proc read). */
int ward__worker_state(const ward_worker *w);

/* call.c */
/* Takes a reference on the worker's live connection for a call, waiting
 * within the deadline while a new process is on its way (lock not held). */
int ward__worker_acquire(ward_worker *w, int64_t deadline, uint32_t pin, ward__conn **out);
/* The same without waiting, for a worker ready for calls now: 1 with the
 * reference taken and the spec's request timeout in *timeout_ms (read
 * under the same lock), 0 when the worker is not ready (nothing taken:
 * ward__worker_acquire then says why, or waits). */
int ward__worker_acquire_ready(ward_worker *w, int *timeout_ms, ward__conn **out);
/* A call is done with the worker's connection (lock not held). */
void ward__worker_release(ward_worker *w, ward__conn *c, int answered);
/* A call's deadline passed: kill and replace, if the spec says so. */
void ward__worker_timed_out(ward_worker *w, ward__conn *c);
/* A call on the worker ended with `rv` (its timeout was `timeout_ms`): the
 * timeout's consequences, then ward__worker_release. */
void ward__worker_call_done(ward_worker *w, ward__conn *c, int rv, int timeout_ms);
/* A call's timeout: the caller's, or the spec's when it is negative. */
int ward__worker_timeout(const ward_worker *w, int timeout_ms);
/* The loop must look at the connection's calls by `deadline`. */
void ward__worker_watch_deadline(ward_worker *w, ward__conn *c, int64_t deadline);

/* json.c: whether a payload parses as JSON. */
int ward__json_valid(const void *data, size_t len);
/* json.c, what the JSON layer decodes of a worker's answers (each is fuzzed
 * on its own, tests/fuzz/fuzz_json.c). A row of `method`'s `stream`: its
 * value, or NULL with a sentence naming method, stream and row in `why`. */
struct json_t *ward__json_row(const char *method, const char *stream, uint64_t seq,
                              const void *d, size_t n, char *why, size_t cap);
/* The payload of a call that ended with `rv` (WARD_OK: a reply, which must
 * be JSON; WARD_EREMOTE: an error's data, kept only when it is JSON). Sets
 * *out (NULL: no value) and returns 0, or WARD_EPROTO for a bad reply. */
int ward__json_answer(struct json_t **out, const char *method, int rv, const void *d, size_t n);
/* A ward.doctor answer as a report; 0, WARD_EPROTO or WARD_ENOMEM. */
int ward__doctor_decode(ward_doctor_report **out, const struct json_t *res);

/* spare.c: the doctor check of a replacement (ward_replace_opts.doctor),
 * lock not held: 0 when no check is in error, WARD_EREMOTE naming each
 * that is, or the ward_doctor call's error. */
int ward__doctor_passes(ward_worker *w, int timeout_ms);

/* acall.c, on the loop */
void ward__acall_process(ward__conn *c, ward__call *call);

#endif
