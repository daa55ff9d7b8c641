#include "prefetch.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "mem.h"

#define CHUNK (4u * 1024 * 1024)

struct gs_prefetch {
    uv_work_t work;
    char *path;
    int fd;
    uint64_t size;
    _Atomic uint64_t done;
    atomic_bool stop;
    atomic_bool finished;
    bool released;
    bool ran;      /* after_work has run */
    uint64_t t0;
    double ms;
};

static void work_cb(uv_work_t *w)
{
    gs_prefetch *p = w->data;
    /* Ask the kernel to start reading the whole file; the reads below wait for it and make
     * sure the pages are really resident, even where the advice is ignored. */
    posix_fadvise(p->fd, 0, 0, POSIX_FADV_WILLNEED);
    char *buf = malloc(CHUNK);
    if (!buf)
        goto out;
    uint64_t off = 0;
    while (off < p->size && !atomic_load(&p->stop)) {
        ssize_t n = pread(p->fd, buf, CHUNK, (off_t)off);
        if (n <= 0)
            break;
        off += (uint64_t)n;
        atomic_store(&p->done, off);
    }
    free(buf);
out:
    close(p->fd);
    p->fd = -1;
}

static void after_cb(uv_work_t *w, int status)
{
    gs_prefetch *p = w->data;
    p->ran = true;
    atomic_store(&p->finished, true);
    p->ms = (double)(gs_clock_ns() - p->t0) / 1e6;
    uint64_t done = atomic_load(&p->done);
    gs_debug("prefetch of %s: %llu of %llu bytes in %.0f ms%s", p->path, (unsigned long long)done,
             (unsigned long long)p->size, p->ms, atomic_load(&p->stop) ? " (stopped)" : "");
    if (p->released) {
        free(p->path);
        free(p);
    }
}

gs_prefetch *gs_prefetch_start(uv_loop_t *loop, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    gs_prefetch *p = gs_mem_calloc(1, sizeof *p);
    p->path = gs_mem_strdup(path);
    p->fd = fd;
    p->size = (uint64_t)st.st_size;
    p->t0 = gs_clock_ns();
    p->work.data = p;
    if (uv_queue_work(loop, &p->work, work_cb, after_cb) < 0) {
        close(fd);
        free(p->path);
        free(p);
        return NULL;
    }
    return p;
}

uint64_t gs_prefetch_done(const gs_prefetch *p)
{
    return atomic_load(&((gs_prefetch *)p)->done);
}

uint64_t gs_prefetch_size(const gs_prefetch *p)
{
    return p->size;
}

bool gs_prefetch_finished(const gs_prefetch *p)
{
    return atomic_load(&((gs_prefetch *)p)->finished);
}

const char *gs_prefetch_path(const gs_prefetch *p)
{
    return p->path;
}

void gs_prefetch_release(gs_prefetch *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true);
    p->released = true;
    if (p->ran) {
        free(p->path);
        free(p);
    }
}
