/* clock: the daemon's one clock.
 *
 * Timeouts, ages, TTLs and durations are measured on the monotonic clock (libuv's hrtime, so
 * a wall-clock step never fires a TTL or stretches a timeout); only timestamps that people or
 * clients read (log lines, request logs, "created") use the wall clock. */
#ifndef GS_CLOCK_H
#define GS_CLOCK_H
#include <stdint.h>

/* Monotonic time in nanoseconds / milliseconds (arbitrary origin; only differences mean anything). */
uint64_t gs_clock_ns(void);
uint64_t gs_clock_ms(void);
/* Wall-clock time in milliseconds since the Unix epoch. */
uint64_t gs_clock_wall_ms(void);

#endif
