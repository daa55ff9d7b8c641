/* fetch: libcurl is loaded by the first transfer, not before (curlso.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "curlso.h"
#include "fetch.h"

typedef struct seen {
    bool done;
    int rc;
} seen;

static void on_done(gs_fetch_req *r, int rc, const char *msg, const gs_fetch_info *in, void *ud)
{
    seen *s = ud;
    s->done = true;
    s->rc = rc;
}

/* A port nothing listens on: bound, never listened to, closed at the end. */
static int dead_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(*fd, (struct sockaddr *)&a, &l);
    return ntohs(a.sin_port);
}

Test(fetch, libcurl_comes_with_the_first_transfer)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_fetch *f = gs_fetch_new(&loop);
    cr_assert_not_null(f);
    cr_expect_eq(gs_curlso_loaded(), 0, "gs_fetch_new loaded libcurl");
    int fd;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dead_port(&fd));
    seen s = {0};
    gs_fetch_opts o = {.url = url, .on_done = on_done, .ud = &s, .connect_s = 5};
    cr_assert_eq(gs_fetch_start(f, &o, NULL), 0);
    cr_expect_eq(gs_curlso_loaded(), 1);
    for (int i = 0; i < 2000 && !s.done; i++)
        uv_run(&loop, UV_RUN_ONCE);
    cr_expect(s.done, "the refused transfer never ended");
    cr_expect_eq(s.rc, GS_FETCH_ENET, "rc %d", s.rc);
    gs_fetch_free(f);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    close(fd);
}
