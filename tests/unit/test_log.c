/* The log rings behind /logs/stream, /logs/stream/proxy and /logs/stream/upstream: which lines
 * each keeps, and in what shape. */
#include <criterion/criterion.h>
#include <string.h>

#include "log.h"

static char *dump(gs_ring *r)
{
    return gs_ring_dump(r, NULL);
}

Test(log, model_lines_go_raw_to_upstream_prefixed_to_mux_never_to_proxy)
{
    gs_log_set_quiet(1);
    gs_log_set_level(GS_LOG_INFO);
    gs_log_msg(GS_LOG_INFO, "model %s: ready", "m");
    gs_log_model_line("m", "srv listening", 13);
    gs_log_model_line("other/x", "<6>odd line", 11);
    gs_log_msg(GS_LOG_DEBUG, "below the level"); /* filtered: in no ring */

    char *up = dump(gs_log_upstream_ring()), *mux = dump(gs_log_mux_ring()),
         *px = dump(gs_log_proxy_ring());
    cr_assert_str_eq(up, "srv listening\n<6>odd line\n");
    cr_assert_not_null(strstr(mux, "INFO model m: ready\n[m] srv listening\n[other/x] <6>odd line\n"),
                       "%s", mux);
    cr_assert_not_null(strstr(px, "INFO model m: ready\n"));
    cr_assert_null(strstr(px, "srv listening"));
    cr_assert_null(strstr(mux, "below the level"));
    free(up);
    free(mux);
    free(px);
}

Test(log, rings_keep_only_their_newest_bytes)
{
    gs_ring r;
    gs_ring_init(&r, 8);
    gs_ring_append(&r, "abcdef", 6);
    gs_ring_append(&r, "ghij", 4);
    char *d = gs_ring_dump(&r, NULL);
    cr_assert_str_eq(d, "cdefghij");
    free(d);
    gs_ring_append(&r, "0123456789", 10);
    d = gs_ring_dump(&r, NULL);
    cr_assert_str_eq(d, "23456789");
    free(d);
    gs_ring_free(&r);
}
