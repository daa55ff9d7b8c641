/* fetch: HTTP(S) client transfers with libcurl's multi interface, driven by the libuv loop.
 *
 * Downloads of many gigabytes must not block the daemon, and the CLI's `pull` runs the same
 * code: every transfer is a curl easy handle on one curl multi per loop, whose sockets are
 * uv_poll handles and whose timeout is a uv_timer (curl's "socket action" API), so no thread
 * and no busy loop are involved. Redirects are followed (the Hub answers /resolve/ with a 302
 * to its CDN); headers of every response in the chain are seen, because the Hub puts the LFS
 * hash (X-Linked-Etag) on the redirect, not on the CDN's answer. A transfer that moves less
 * than 1 byte/s for `stall_s` seconds fails as stalled, so the caller can retry it. */
#ifndef GS_FETCH_H
#define GS_FETCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct gs_fetch gs_fetch;         /* one per loop */
typedef struct gs_fetch_req gs_fetch_req; /* one transfer */

/* What a finished transfer learnt. Header values are of the final response, except linked_*,
 * which may come from any response of the redirect chain. */
typedef struct gs_fetch_info {
    int status;             /* of the final response; 0 when none arrived */
    char error_code[64];    /* X-Error-Code (the Hub's RepoNotFound, GatedRepo, ...) */
    char linked_etag[80];   /* X-Linked-Etag without quotes: the LFS sha256 */
    int64_t linked_size;    /* X-Linked-Size, -1 when absent */
    int64_t range_start;    /* start of Content-Range of a 206, -1 when absent */
    int64_t length;         /* Content-Length of the final response, -1 when absent */
    char next_url[1024];    /* Link: <...>; rel="next" (tree pagination), "" when absent */
} gs_fetch_info;

/* Result codes passed to on_done besides 0: */
#define GS_FETCH_ENET    (-ENETUNREACH) /* could not resolve or connect */
#define GS_FETCH_ESTALL  (-ETIMEDOUT)   /* stalled or timed out */
#define GS_FETCH_ECUT    (-ECONNRESET)  /* the connection broke mid-transfer */
#define GS_FETCH_EABORT  (-ECANCELED)   /* on_head or on_data returned < 0 */

/* Called once, when the first body byte arrives or at the end: the final response's head.
 * Return < 0 to stop the transfer (on_done then gets GS_FETCH_EABORT). */
typedef int (*gs_fetch_head_cb)(gs_fetch_req *r, const gs_fetch_info *info, void *ud);
/* Body bytes. Return < 0 to stop the transfer. */
typedef int (*gs_fetch_data_cb)(gs_fetch_req *r, const char *data, size_t len, void *ud);
/* The end: rc is 0 (a response arrived, whatever its status) or one of GS_FETCH_E*; msg says
 * what failed in words (curl's message). The request is freed after this returns. */
typedef void (*gs_fetch_done_cb)(gs_fetch_req *r, int rc, const char *msg,
                                 const gs_fetch_info *info, void *ud);

typedef struct gs_fetch_opts {
    const char *url;
    const char *bearer;     /* Authorization: Bearer <token>; curl keeps it off other hosts */
    int64_t range_from;     /* > 0: Range: bytes=<from>- */
    long stall_s;           /* default 30 */
    long connect_s;         /* default 20 */
    gs_fetch_head_cb on_head;
    gs_fetch_data_cb on_data; /* NULL: the body is discarded */
    gs_fetch_done_cb on_done;
    void *ud;
} gs_fetch_opts;

/* Cheap: libcurl is loaded by the first gs_fetch_start (curlso.h). */
gs_fetch *gs_fetch_new(uv_loop_t *loop);
/* Cancel every transfer (no on_done) and free once libuv has closed the handles. */
void gs_fetch_free(gs_fetch *f);
/* Start a transfer. Returns 0 and *out (may be NULL), or a negative errno. */
int gs_fetch_start(gs_fetch *f, const gs_fetch_opts *o, gs_fetch_req **out);
/* A gs_fetch_start error in words: for -ENOSYS, why libcurl could not be loaded and what to
 * install; else strerror. */
const char *gs_fetch_strerror(int rc);
/* Stop a transfer; on_done is not called, the request is freed. */
void gs_fetch_cancel(gs_fetch_req *r);
/* Bytes per second of the transfer so far (curl's average). */
double gs_fetch_speed(gs_fetch_req *r);
int gs_fetch_active(const gs_fetch *f);

#endif
