/* watch: fs events on the model folders, debounced, applied once stable (see watch.h). */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "buf.h"
#include "log.h"
#include "mem.h"
#include "strv.h"

#define MAX_WATCHED 256
#define MAX_DEPTH 8
#define LISTING_MAX (4u << 20)

typedef struct watched {
    uv_fs_event_t ev;
    gs_watch *w;
} watched;

struct gs_watch {
    uv_loop_t *loop;
    unsigned debounce_ms;
    gs_watch_cb cb;
    void *ud;
    char **dirs;
    int ndirs;
    watched *handles[MAX_WATCHED];
    int nhandles;
    uv_timer_t timer;
    char *applied;         /* NULL while the first listing is taken (list_work) */
    char *prev;
    bool closing;
    /* The listing that counts as applied is taken on libuv's thread pool: with 1,000 models it
     * is a stat per file, and the daemon need not wait for it to answer. */
    uv_work_t work;
    bool working;          /* work queued or running: w is freed only after it */
    bool timer_closed;
    unsigned gen;          /* set_dirs calls: a listing of older folders is dropped */
    unsigned work_gen;
    char **work_dirs;      /* the work's own copy */
    int work_ndirs;
    char *work_out;
};

gs_watch_action gs_watch_decide(const char *applied, const char *prev, const char *now)
{
    if (applied && strcmp(applied, now) == 0)
        return GS_WATCH_NOTHING;
    if (prev && strcmp(prev, now) == 0)
        return GS_WATCH_APPLY;
    return GS_WATCH_WAIT;
}

static bool is_gguf(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 5 && strcasecmp(name + n - 5, ".gguf") == 0;
}

typedef struct list {
    char **v;
    int n;
} list;

static void walk(const char *dir, int depth, list *files, list *dirs)
{
    if (depth > MAX_DEPTH)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    if (dirs && dirs->n < MAX_WATCHED) {
        dirs->v = gs_mem_realloc(dirs->v, (size_t)(dirs->n + 1) * sizeof *dirs->v);
        dirs->v[dirs->n++] = gs_mem_strdup(dir);
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        /* Only the folders are wanted without `files`: a plain file needs no stat (with 1,000
         * models that is 1,000 stats at start). */
        if (!files && e->d_type == DT_REG)
            continue;
        char *p = gs_mem_printf("%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                walk(p, depth + 1, files, dirs);
            } else if (S_ISREG(st.st_mode) && is_gguf(e->d_name) && files && files->n < 100000) {
                files->v = gs_mem_realloc(files->v, (size_t)(files->n + 1) * sizeof *files->v);
                files->v[files->n++] = gs_mem_printf("%s\t%lld\t%lld.%09ld\n", p,
                                                     (long long)st.st_size,
                                                     (long long)st.st_mtim.tv_sec,
                                                     st.st_mtim.tv_nsec);
            }
        }
        free(p);
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *gs_watch_listing(char *const *dirs, int n)
{
    list files = {0};
    for (int i = 0; i < n; i++)
        walk(dirs[i], 0, &files, NULL);
    if (files.n) /* qsort wants an array, even for none */
        qsort(files.v, (size_t)files.n, sizeof *files.v, cmp_str);
    gs_buf b;
    gs_buf_init(&b, LISTING_MAX);
    for (int i = 0; i < files.n; i++) {
        gs_buf_puts(&b, files.v[i]);
        free(files.v[i]);
    }
    free(files.v);
    return gs_buf_steal(&b);
}

static void handle_closed(uv_handle_t *h)
{
    free(h->data);
}

static void unwatch_all(gs_watch *w)
{
    for (int i = 0; i < w->nhandles; i++) {
        uv_fs_event_stop(&w->handles[i]->ev);
        uv_close((uv_handle_t *)&w->handles[i]->ev, handle_closed);
    }
    w->nhandles = 0;
}

static void on_event(uv_fs_event_t *h, const char *name, int events, int status)
{
    watched *x = h->data;
    gs_watch *w = x->w;
    if (w->closing)
        return;
    /* Only quiet matters: every event pushes the look further out. */
    gs_watch_poke(w);
}

/* fs events on every folder and subfolder now there (new subfolders join on each look). */
static void rewatch(gs_watch *w)
{
    list dirs = {0};
    for (int i = 0; i < w->ndirs; i++)
        walk(w->dirs[i], 0, NULL, &dirs);
    unwatch_all(w);
    for (int i = 0; i < dirs.n; i++) {
        watched *x = gs_mem_calloc(1, sizeof *x);
        x->w = w;
        uv_fs_event_init(w->loop, &x->ev);
        x->ev.data = x;
        if (uv_fs_event_start(&x->ev, on_event, dirs.v[i], 0) < 0) {
            uv_close((uv_handle_t *)&x->ev, handle_closed);
        } else {
            w->handles[w->nhandles++] = x;
        }
        free(dirs.v[i]);
    }
    free(dirs.v);
}

static void on_timer(uv_timer_t *t)
{
    gs_watch *w = t->data;
    if (!w->applied) { /* the first listing is not there yet: look when it is */
        uv_timer_start(&w->timer, on_timer, w->debounce_ms, 0);
        return;
    }
    char *now = gs_watch_listing(w->dirs, w->ndirs);
    gs_watch_action a = gs_watch_decide(w->applied, w->prev, now);
    if (a == GS_WATCH_NOTHING) {
        free(w->prev);
        w->prev = NULL;
        free(now);
        rewatch(w);
        return;
    }
    if (a == GS_WATCH_WAIT) {
        free(w->prev);
        w->prev = now;
        uv_timer_start(&w->timer, on_timer, w->debounce_ms * 2, 0);
        return;
    }
    gs_info("model folders changed; updating the models");
    free(w->applied);
    w->applied = now;
    free(w->prev);
    w->prev = NULL;
    rewatch(w);
    w->cb(w->ud);
}

gs_watch *gs_watch_new(uv_loop_t *loop, unsigned debounce_ms, gs_watch_cb cb, void *ud)
{
    gs_watch *w = gs_mem_calloc(1, sizeof *w);
    w->loop = loop;
    w->debounce_ms = debounce_ms ? debounce_ms : 500;
    w->cb = cb;
    w->ud = ud;
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    /* The watcher must not keep a stopping daemon's loop alive. */
    uv_unref((uv_handle_t *)&w->timer);
    return w;
}

static void free_watch(gs_watch *w)
{
    for (int i = 0; i < w->ndirs; i++)
        free(w->dirs[i]);
    free(w->dirs);
    free(w->applied);
    free(w->prev);
    free(w);
}

static void list_work(uv_work_t *req)
{
    gs_watch *w = req->data;
    w->work_out = gs_watch_listing(w->work_dirs, w->work_ndirs);
}

static void start_listing(gs_watch *w);

static void list_done(uv_work_t *req, int status)
{
    gs_watch *w = req->data;
    w->working = false;
    gs_strv_free(w->work_dirs);
    w->work_dirs = NULL;
    char *out = w->work_out;
    w->work_out = NULL;
    if (w->closing) {
        free(out);
        if (w->timer_closed)
            free_watch(w);
        return;
    }
    if (status == 0 && w->work_gen == w->gen && !w->applied) {
        w->applied = out;
        return;
    }
    free(out);
    if (!w->applied)
        start_listing(w); /* the folders changed meanwhile: list the new ones */
}

static void start_listing(gs_watch *w)
{
    if (w->working)
        return; /* list_done starts the next one */
    w->work_dirs = gs_strv_dup(w->dirs, w->ndirs);
    w->work_ndirs = w->ndirs;
    w->work_gen = w->gen;
    w->work.data = w;
    if (uv_queue_work(w->loop, &w->work, list_work, list_done) == 0) {
        w->working = true;
        return;
    }
    gs_strv_free(w->work_dirs); /* no thread pool: list here */
    w->work_dirs = NULL;
    w->applied = gs_watch_listing(w->dirs, w->ndirs);
}

static bool same_dirs(const gs_watch *w, char *const *dirs, int n)
{
    if (n != w->ndirs)
        return false;
    for (int i = 0; i < n; i++)
        if (strcmp(w->dirs[i], dirs[i]) != 0)
            return false;
    return true;
}

void gs_watch_set_dirs(gs_watch *w, char *const *dirs, int n)
{
    if (w->applied && same_dirs(w, dirs, n)) {
        /* After an apply: the listing it applied stays the applied one. A fresh listing here
         * would be taken later, and would swallow a file deleted in between (the config still
         * has it, the listing already not: nothing would ever differ). New subfolders get
         * watched. */
        rewatch(w);
        return;
    }
    for (int i = 0; i < w->ndirs; i++)
        free(w->dirs[i]);
    free(w->dirs);
    w->dirs = gs_mem_calloc((size_t)n + 1, sizeof *w->dirs);
    for (int i = 0; i < n; i++)
        w->dirs[i] = gs_mem_strdup(dirs[i]);
    w->ndirs = n;
    free(w->applied);
    w->applied = NULL;
    w->gen++;
    start_listing(w);
    free(w->prev);
    w->prev = NULL;
    rewatch(w);
}

void gs_watch_poke(gs_watch *w)
{
    if (!w->closing)
        uv_timer_start(&w->timer, on_timer, w->debounce_ms, 0);
}

static void timer_closed(uv_handle_t *h)
{
    gs_watch *w = h->data;
    w->timer_closed = true;
    if (!w->working)
        free_watch(w);
}

void gs_watch_free(gs_watch *w)
{
    if (!w || w->closing)
        return;
    w->closing = true;
    unwatch_all(w);
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, timer_closed);
}
