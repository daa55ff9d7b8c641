/* sdnotify: running as a systemd service without linking libsystemd.
 *
 * Readiness: when systemd starts ggswap with Type=notify it sets $NOTIFY_SOCKET, a unix
 * datagram socket (a path, or an abstract name written with a leading '@'); ggswap sends
 * "READY=1" once it listens, "STOPPING=1" when it begins to shut down, "RELOADING=1" and
 * "READY=1" around a reload. Without $NOTIFY_SOCKET nothing is sent.
 * Logging: when stderr is the journal's stream ($JOURNAL_STREAM names stderr's device and
 * inode), each line starts with a syslog priority ("<6>" info, "<4>" warn...), so journald
 * files it by level (journalctl -p warning). */
#ifndef GS_SDNOTIFY_H
#define GS_SDNOTIFY_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Send state ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET. Returns 1 when sent, 0 when there is
 * no socket to tell, or a negative errno. */
int gs_sd_notify(const char *state);
/* The socket address of a $NOTIFY_SOCKET value: 0, or -EINVAL (not a unix socket path). */
int gs_sd_address(const char *value, struct sockaddr_un *sa, socklen_t *len);
/* "dev:ino" of $JOURNAL_STREAM: 0, or -EINVAL. */
int gs_sd_parse_journal_stream(const char *value, unsigned long long *dev,
                               unsigned long long *ino);
/* Is stderr the journal (as $JOURNAL_STREAM says)? */
bool gs_sd_stderr_is_journal(void);

#endif
