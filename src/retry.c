/* retry: what to do with a request whose upstream failed (see retry.h). */
#include "retry.h"

#include <uv.h>

gs_retry gs_retry_decide(const gs_retry_case *c)
{
    gs_retry r = {GS_RETRY_NONE, 0, 0};
    /* A timeout is never retried: the model is there, only slow, and would get it twice. */
    if (c->err >= 0 || c->err == UV_ETIMEDOUT || c->answered || c->retried)
        return r;
    if (c->reused_conn && c->since_sent_ns < GS_RETRY_STALE_NS) {
        r.kind = GS_RETRY_CONN;
        return r;
    }
    /* Refused: nothing listens any more, so nothing was processed, however long it took. */
    bool closed_at_once = (c->err == UV_EOF || c->err == UV_ECONNRESET) &&
                          c->since_sent_ns < GS_RETRY_DIED_NS;
    if (c->err == UV_ECONNREFUSED || closed_at_once) {
        r.kind = GS_RETRY_HOLD;
        r.hold_ms = GS_RETRY_HOLD_MS;
        r.wake_ms = GS_RETRY_HOLD_MS + 10; /* the plan waits while now < hold: come just after */
    }
    return r;
}
