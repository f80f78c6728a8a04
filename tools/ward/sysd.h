/*
 * sysd.h — `ward run` under systemd (docs/deploy.md): the notifications of
 * a Type=notify service (sd_notify: READY=1 once the services are up,
 * STATUS= lines as they change, RELOADING=1, STOPPING=1, and WATCHDOG=1
 * pings when the unit has WatchdogSec=), and service output sent to the
 * journal (`ward run --journal`). Without NOTIFY_SOCKET in the
 * environment the notifications cost nothing; a build without libsystemd
 * (a system that has none) sends none and refuses --journal.
 */
#ifndef WARD_CLI_SYSD_H
#define WARD_CLI_SYSD_H

#include <stddef.h>
#include <stdint.h>

/* Reads NOTIFY_SOCKET and the watchdog's interval, once, before the
 * daemon starts any process (they are then removed from the environment,
 * so that services do not notify in ward's name). */
void sysd_init(void);
/* Sends one state line ("READY=1", "STOPPING=1", ...) when notifying. */
void sysd_notify(const char *state);
/* Sends STATUS=text when notifying and the text changed. */
void sysd_status(const char *text);
/* Pings the watchdog when a ping is due at `now_ms` (monotonic): the
 * milliseconds until the next one, or -1 when there is no watchdog. */
int sysd_watchdog(int64_t now_ms);

/* Service output to the journal: a stream per instance and output, as
 * systemd gives a unit's stdout and stderr (SYSLOG_IDENTIFIER: the
 * instance's name; stdout at LOG_INFO, stderr at LOG_WARNING; a "<N>"
 * prefix on a line sets its priority). Writes never block the daemon: a
 * line the journal cannot take at once is dropped and counted. */
typedef struct sysd_journal sysd_journal;
/* NULL with the reason in `err` when the journal cannot be reached. */
sysd_journal *sysd_journal_open(char *err, size_t cap);
/* `which`: WARD_LOG_STDOUT or WARD_LOG_STDERR. */
void sysd_journal_line(sysd_journal *j, const char *instance, int which, const char *text);
/* Lines dropped so far. */
uint64_t sysd_journal_dropped(const sysd_journal *j);
void sysd_journal_free(sysd_journal *j);

#endif
