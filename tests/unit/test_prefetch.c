/* Prefetch reads a whole file in the thread pool and can be let go at any time. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "prefetch.h"

static char *make_file(size_t bytes)
{
    char *p = strdup("/tmp/gs-prefetch-XXXXXX");
    int fd = mkstemp(p);
    cr_assert_geq(fd, 0);
    char buf[4096] = {1};
    for (size_t left = bytes; left;) {
        size_t n = left < sizeof buf ? left : sizeof buf;
        cr_assert_eq(write(fd, buf, n), (ssize_t)n);
        left -= n;
    }
    close(fd);
    return p;
}

Test(prefetch, reads_the_whole_file)
{
    char *path = make_file(9u * 1024 * 1024 + 17); /* more than two chunks, not a multiple */
    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_prefetch *p = gs_prefetch_start(&loop, path);
    cr_assert_not_null(p);
    cr_assert_eq(gs_prefetch_size(p), 9u * 1024 * 1024 + 17);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert(gs_prefetch_finished(p));
    cr_assert_eq(gs_prefetch_done(p), gs_prefetch_size(p));
    gs_prefetch_release(p);
    uv_loop_close(&loop);
    unlink(path);
    free(path);
}

Test(prefetch, released_while_running_and_missing_files)
{
    char *path = make_file(1024 * 1024);
    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_prefetch *p = gs_prefetch_start(&loop, path);
    cr_assert_not_null(p);
    gs_prefetch_release(p); /* freed by the loop once the read stops */
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_null(gs_prefetch_start(&loop, "/nonexistent/model.gguf"));
    cr_assert_null(gs_prefetch_start(&loop, "/tmp"), "not a regular file");
    cr_assert_eq(uv_loop_close(&loop), 0);
    unlink(path);
    free(path);
}
