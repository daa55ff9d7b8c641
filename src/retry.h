/* retry: the one policy for "the model has just died" (and its cousin, the stale keep-alive
 * connection), as a pure function.
 *
 * A request that fails before any byte of its answer came back was most likely never processed:
 * the connection was a keep-alive one the server closed as we wrote (send it again at once on a
 * fresh connection), or the model's process had just died (queue it again, held long enough for
 * the exit to be seen and the model restarted, then send it to the restart). A request that the
 * model had been working on for longer may be what killed it, so it gets the error instead; and
 * nothing is sent more than once more. The pool (upstream.c) acts on GS_RETRY_CONN, the scheduler
 * on GS_RETRY_HOLD; each asks with what it knows. */
#ifndef GS_RETRY_H
#define GS_RETRY_H
#include <stdbool.h>
#include <stdint.h>

typedef enum gs_retry_kind {
    GS_RETRY_NONE = 0, /* answer with the error */
    GS_RETRY_CONN,     /* send it again now, on a fresh connection to the same process */
    GS_RETRY_HOLD,     /* queue it again (first in line), not before hold_ms, then re-plan */
} gs_retry_kind;

typedef struct gs_retry_case {
    int err;                /* the negative libuv error the upstream request ended with (0: none) */
    uint64_t since_sent_ns; /* from writing the request to the failure */
    bool answered;          /* a byte of the answer came back (or the client has the head) */
    bool retried;           /* this request was already sent once more */
    bool reused_conn;       /* it went out on a keep-alive connection used before (pool only) */
} gs_retry_case;

typedef struct gs_retry {
    gs_retry_kind kind;
    unsigned hold_ms;       /* GS_RETRY_HOLD: not before then */
    unsigned wake_ms;       /* GS_RETRY_HOLD: look at the queue again then (just after hold_ms) */
} gs_retry;

/* A write that fails within this long on a reused connection met a connection the server had
 * closed; a connection closed within GS_RETRY_DIED_NS of the write met a process that died. */
#define GS_RETRY_STALE_NS (10ull * 1000 * 1000)
#define GS_RETRY_DIED_NS (25ull * 1000 * 1000)
/* By then the dead child's exit is handled (it is seen stopped and restarted) or it answers. */
#define GS_RETRY_HOLD_MS 100u

gs_retry gs_retry_decide(const gs_retry_case *c);

#endif
