/* The retry policy for a request whose upstream failed before answering (retry.h). */
#include <criterion/criterion.h>
#include <uv.h>

#include "retry.h"

#define MS (1000ull * 1000)

Test(retry, table)
{
    static const struct {
        const char *what;
        gs_retry_case c;
        gs_retry_kind want;
    } rows[] = {
        {"success is not retried", {0, 1 * MS, false, false, false}, GS_RETRY_NONE},
        {"refused: the process is gone, hold for its restart",
         {UV_ECONNREFUSED, 1 * MS, false, false, false}, GS_RETRY_HOLD},
        {"refused even long after the write (nothing listened)",
         {UV_ECONNREFUSED, 5000 * MS, false, false, false}, GS_RETRY_HOLD},
        {"closed at once after the write: it had just died", {UV_EOF, 24 * MS, false, false, false},
         GS_RETRY_HOLD},
        {"reset at once after the write", {UV_ECONNRESET, 3 * MS, false, false, false},
         GS_RETRY_HOLD},
        {"closed after 25 ms: it may have died of this request", {UV_EOF, 25 * MS, false, false, false},
         GS_RETRY_NONE},
        {"reset after a second", {UV_ECONNRESET, 1000 * MS, false, false, false}, GS_RETRY_NONE},
        {"the client has the head: too late", {UV_EOF, 1 * MS, true, false, false}, GS_RETRY_NONE},
        {"sent once more already: the error", {UV_ECONNREFUSED, 1 * MS, false, true, false},
         GS_RETRY_NONE},
        {"a timeout is not a death", {UV_ETIMEDOUT, 1 * MS, false, false, false}, GS_RETRY_NONE},
        {"a malformed answer is not retried", {-EPROTO, 1 * MS, false, false, false}, GS_RETRY_NONE},
        {"a reused connection closed right after the write: stale, resend now",
         {UV_EOF, 9 * MS, false, false, true}, GS_RETRY_CONN},
        {"a reused connection with any error right after the write", {-EPROTO, 1 * MS, false, false, true},
         GS_RETRY_CONN},
        {"a reused connection that failed after 10 ms: the process died on it",
         {UV_EOF, 10 * MS, false, false, true}, GS_RETRY_HOLD},
        {"a reused connection that answered bytes is not stale", {UV_EOF, 1 * MS, true, false, true},
         GS_RETRY_NONE},
        {"a reused connection that timed out: slow, not stale", {UV_ETIMEDOUT, 1 * MS, false, false, true},
         GS_RETRY_NONE},
        {"a reused connection already retried", {UV_EOF, 1 * MS, false, true, true}, GS_RETRY_NONE},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        gs_retry r = gs_retry_decide(&rows[i].c);
        cr_expect_eq(r.kind, rows[i].want, "%s: kind %d, want %d", rows[i].what, r.kind, rows[i].want);
        if (r.kind == GS_RETRY_HOLD) {
            cr_expect_eq(r.hold_ms, GS_RETRY_HOLD_MS, "%s", rows[i].what);
            cr_expect_gt(r.wake_ms, r.hold_ms, "%s: the queue is looked at after the hold", rows[i].what);
        } else {
            cr_expect_eq(r.hold_ms, 0, "%s", rows[i].what);
        }
    }
}
