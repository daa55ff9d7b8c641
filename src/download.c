/* download: pull jobs, shared file transfers, resume, verification (see download.h). */
#include "download.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "fetch.h"
#include "hub.h"
#include "log.h"
#include "mem.h"
#include "sslso.h"

#define TREE_MAX (32u << 20)   /* bytes of one tree listing page */
#define TREE_PAGES 50
#define NOTIFY_MS 200

typedef struct dl_file dl_file;

struct gs_dl_mgr {
    uv_loop_t *loop;
    gs_fetch *fetch;
    char *endpoint;
    char *token;
    char *token_from;
    long stall_s;
    int max_attempts;
    unsigned backoff_ms;
    uint64_t reserve;
    gs_dl_change_cb on_change;
    void *ud;
    gs_dl_job *jobs;        /* newest first */
    dl_file *files;
    int next_id;
    bool closing;
};

/* One destination file; jobs that need the same path share it. */
struct dl_file {
    gs_dl_mgr *m;
    dl_file *next;
    char *dest, *part, *name, *url;
    char sha256[65];        /* expected, lowercase hex; "" when unknown */
    int64_t size;           /* expected, -1 when unknown */
    int64_t have;           /* bytes in .part */
    int64_t attempt_start;  /* have when this attempt began (progress resets the count) */
    gs_dl_state state;
    char *error;
    char *warning;
    int fd;
    bool bearer;            /* send the token (Hub files only) */
    gs_fetch_req *req;
    int attempt;
    uv_timer_t timer;       /* retry backoff, or waiting for another process's lock */
    bool timer_open;
    uv_work_t work;
    bool hashing;
    char got[65];
    int hash_rc;
    int users;              /* jobs that hold it */
    char abort_why[600];    /* set by a callback that stopped the transfer */
    bool abort_permanent;
    bool restart;           /* the server ignored Range: start over */
    bool in_place;          /* verifying a file that was already there: never delete it */
    bool owned;             /* this process created or locked .part (so cancel may delete it) */
    double speed;
};

struct gs_dl_job {
    gs_dl_mgr *m;
    gs_dl_job *next;
    char id[16];
    char *ref, *dir;
    gs_hub_ref hr;
    gs_dl_state state;
    char *error;
    gs_fetch_req *tree_req;
    gs_buf tree;
    int tree_pages;
    gs_hub_file *hf;
    int nhf;
    dl_file **files;
    int nfiles;
    int attempt;
    uv_timer_t timer;       /* tree retry backoff */
    uint64_t last_notify;
    uint64_t started_ms;
};

static const char *const state_names[] = {"queued", "downloading", "verifying",
                                          "done", "failed", "cancelled"};

const char *gs_dl_state_name(gs_dl_state s)
{
    return (unsigned)s < 6 ? state_names[s] : "?";
}

static bool finished(gs_dl_state s)
{
    return s == GS_DL_DONE || s == GS_DL_FAILED || s == GS_DL_CANCELLED;
}

static char *human(int64_t n, char *buf, size_t len)
{
    const char *u[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    int i = 0;
    while (v >= 1000 && i < 4) {
        v /= 1000;
        i++;
    }
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
    return buf;
}

/* ---- job state ---- */

static void notify(gs_dl_job *j, bool force)
{
    uint64_t t = gs_clock_ms();
    if (!force && t - j->last_notify < NOTIFY_MS)
        return;
    j->last_notify = t;
    if (j->m->on_change)
        j->m->on_change(j, j->m->ud);
}

static void job_set_state(gs_dl_job *j, gs_dl_state s, const char *err)
{
    if (j->state == s && !err)
        return;
    if (finished(j->state))
        return;
    gs_dl_state old = j->state;
    j->state = s;
    if (err) {
        free(j->error);
        j->error = gs_mem_strdup(err);
    }
    if (s == GS_DL_FAILED)
        gs_warn("pull %s (%s): %s -> failed: %s", j->ref, j->id, gs_dl_state_name(old),
                j->error ? j->error : "?");
    else
        gs_info("pull %s (%s): %s -> %s", j->ref, j->id, gs_dl_state_name(old),
                gs_dl_state_name(s));
    notify(j, true);
}

static void file_release(dl_file *f, bool delete_part);

/* A job's state follows its files: the first failure fails it, all done makes it done. */
static void job_update(gs_dl_job *j)
{
    if (finished(j->state) || j->tree_req || !j->files)
        return;
    bool all_done = true, verifying = false, downloading = false;
    for (int i = 0; i < j->nfiles; i++) {
        dl_file *f = j->files[i];
        if (f->state == GS_DL_FAILED || f->state == GS_DL_CANCELLED) {
            char *e = gs_mem_strdup(f->error ? f->error : "the download was cancelled");
            job_set_state(j, GS_DL_FAILED, e);
            free(e);
            /* The other files stop unless another job wants them; their .part stay. */
            for (int k = 0; k < j->nfiles; k++)
                file_release(j->files[k], false);
            j->nfiles = 0;
            return;
        }
        all_done &= f->state == GS_DL_DONE;
        verifying |= f->state == GS_DL_VERIFYING;
        downloading |= f->state == GS_DL_DOWNLOADING;
    }
    if (all_done) {
        job_set_state(j, GS_DL_DONE, NULL);
        return;
    }
    job_set_state(j, verifying && !downloading ? GS_DL_VERIFYING
                     : downloading           ? GS_DL_DOWNLOADING
                                             : GS_DL_QUEUED,
                  NULL);
}

static void files_changed(dl_file *f, bool force)
{
    for (gs_dl_job *j = f->m->jobs; j; j = j->next) {
        for (int i = 0; i < j->nfiles; i++) {
            if (j->files[i] == f) {
                job_update(j);
                notify(j, force);
                break;
            }
        }
    }
}

static void file_set_state(dl_file *f, gs_dl_state s, const char *err)
{
    if (finished(f->state))
        return;
    f->state = s;
    if (err) {
        free(f->error);
        f->error = gs_mem_strdup(err);
    }
    files_changed(f, true);
}

/* ---- one file ---- */

static void file_start(dl_file *f);
static void file_verify(dl_file *f);

static void file_closed(uv_handle_t *h)
{
    dl_file *f = h->data;
    if (f->hashing)
        return; /* the hash's after-work callback frees it */
    free(f->dest);
    free(f->part);
    free(f->name);
    free(f->url);
    free(f->error);
    free(f->warning);
    free(f);
}

static void file_close_fd(dl_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

/* Unlink from the manager and free once the timer is closed. */
static void file_destroy(dl_file *f)
{
    gs_dl_mgr *m = f->m;
    for (dl_file **pp = &m->files; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    if (f->req)
        gs_fetch_cancel(f->req);
    f->req = NULL;
    file_close_fd(f);
    uv_timer_stop(&f->timer);
    uv_close((uv_handle_t *)&f->timer, file_closed);
}

/* A job lets go of a file: the last one stops its transfer (and deletes .part when asked). */
static void file_release(dl_file *f, bool delete_part)
{
    if (--f->users > 0)
        return;
    if (!finished(f->state)) {
        if (f->req)
            gs_fetch_cancel(f->req);
        f->req = NULL;
        uv_timer_stop(&f->timer);
        if (delete_part && f->owned && !f->in_place)
            unlink(f->part);
        f->state = GS_DL_CANCELLED;
    }
    file_destroy(f);
}

static bool transient_status(int st)
{
    return st == 408 || st == 429 || st >= 500;
}

static void on_retry_timer(uv_timer_t *t)
{
    file_start(t->data);
}

/* A transfer failed in a way another try may fix: wait and resume, or give up. */
static void file_retry(dl_file *f, const char *why, bool net)
{
    gs_dl_mgr *m = f->m;
    if (f->have > f->attempt_start)
        f->attempt = 0; /* it made progress: a new run of tries */
    f->attempt++;
    int max = net && f->have == 0 ? 3 : m->max_attempts;
    if (f->attempt >= max) {
        char msg[900];
        snprintf(msg, sizeof msg, "%s: %s (gave up after %d tries%s)", f->name, why, f->attempt,
                 f->have > 0 ? "; pull again to resume" : "");
        file_close_fd(f);
        file_set_state(f, GS_DL_FAILED, msg);
        return;
    }
    unsigned delay = m->backoff_ms;
    for (int i = 1; i < f->attempt && delay < 30000; i++)
        delay *= 2;
    if (delay > 30000)
        delay = 30000;
    free(f->warning);
    f->warning = gs_mem_printf("%s; retrying in %.1f s (try %d of %d)", why, delay / 1000.0,
                               f->attempt + 1, max);
    gs_warn("pull %s: %s", f->name, f->warning);
    uv_timer_start(&f->timer, on_retry_timer, delay, 0);
    files_changed(f, true);
}

static int free_space(const char *dir, uint64_t *out)
{
    struct statvfs sv;
    if (statvfs(dir, &sv) < 0)
        return -errno;
    *out = (uint64_t)sv.f_bavail * sv.f_frsize;
    return 0;
}

static int on_head(gs_fetch_req *r, const gs_fetch_info *in, void *ud)
{
    dl_file *f = ud;
    gs_dl_mgr *m = f->m;
    int st = in->status;
    if (!f->sha256[0] && strlen(in->linked_etag) == 64) {
        for (int i = 0; i < 64; i++)
            f->sha256[i] = (char)(in->linked_etag[i] | 0x20);
        f->sha256[64] = 0;
    }
    if (f->size < 0 && in->linked_size >= 0)
        f->size = in->linked_size;
    if (st == 206) {
        if (in->range_start != f->have) {
            f->restart = true;
            snprintf(f->abort_why, sizeof f->abort_why, "the server resumed at the wrong place");
            return -1;
        }
    } else if (st == 200) {
        if (f->have > 0) {
            /* The server ignored Range: start from the beginning. */
            if (ftruncate(f->fd, 0) < 0 || lseek(f->fd, 0, SEEK_SET) < 0) {
                snprintf(f->abort_why, sizeof f->abort_why, "cannot truncate %s: %s", f->part,
                         strerror(errno));
                f->abort_permanent = true;
                return -1;
            }
            f->have = 0;
            f->attempt_start = 0;
        }
        if (f->size < 0 && in->length >= 0)
            f->size = in->length;
    } else if (st == 416) {
        return 0; /* handled when it ends */
    } else {
        gs_hub_http_error(st, in->error_code[0] ? in->error_code : NULL, NULL, f->name,
                          f->bearer && m->token, f->abort_why, sizeof f->abort_why);
        f->abort_permanent = !transient_status(st);
        return -1;
    }
    if (f->size >= 0) {
        uint64_t avail = 0; /* set by free_space when it succeeds; gcc -O2 cannot see that */
        uint64_t need = (uint64_t)(f->size - f->have);
        if (free_space(f->part, &avail) == 0 && avail < need + m->reserve) {
            char a[32], b[32];
            snprintf(f->abort_why, sizeof f->abort_why,
                     "not enough free disk space for %s: it needs %s more, %s is free beside %s",
                     f->name, human((int64_t)need, a, sizeof a), human((int64_t)avail, b, sizeof b),
                     f->dest);
            f->abort_permanent = true;
            return -1;
        }
    }
    if (f->state != GS_DL_DOWNLOADING)
        file_set_state(f, GS_DL_DOWNLOADING, NULL);
    return 0;
}

static int on_data(gs_fetch_req *r, const char *data, size_t len, void *ud)
{
    dl_file *f = ud;
    if (f->size >= 0 && f->have + (int64_t)len > f->size) {
        snprintf(f->abort_why, sizeof f->abort_why,
                 "%s: the server sent more than the %lld bytes the Hub listed", f->name,
                 (long long)f->size);
        f->abort_permanent = true;
        unlink(f->part);
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(f->fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            snprintf(f->abort_why, sizeof f->abort_why, "%s: cannot write %s: %s%s", f->name,
                     f->part, strerror(e),
                     e == ENOSPC ? " (the disk is full: free some space and pull again)" : "");
            f->abort_permanent = true;
            return -1;
        }
        off += (size_t)w;
    }
    f->have += (int64_t)len;
    f->speed = gs_fetch_speed(r);
    files_changed(f, false);
    return 0;
}

static void on_done(gs_fetch_req *r, int rc, const char *msg, const gs_fetch_info *in, void *ud)
{
    dl_file *f = ud;
    f->req = NULL;
    f->speed = 0;
    char why[900];
    if (rc == GS_FETCH_EABORT) {
        if (f->restart) {
            f->restart = false;
            if (ftruncate(f->fd, 0) == 0)
                f->have = 0;
            file_retry(f, f->abort_why, false);
        } else if (f->abort_permanent) {
            file_close_fd(f);
            file_set_state(f, GS_DL_FAILED, f->abort_why);
        } else {
            file_retry(f, f->abort_why, false);
        }
        return;
    }
    if (rc == GS_FETCH_ENET) {
        snprintf(why, sizeof why, "cannot reach %s (%s): check the network connection%s",
                 f->url, msg ? msg : "no connection",
                 getenv("HF_ENDPOINT") ? " and $HF_ENDPOINT" : "");
        file_retry(f, why, true);
        return;
    }
    if (rc < 0) {
        snprintf(why, sizeof why, "%s after %lld bytes",
                 rc == GS_FETCH_ESTALL ? "the transfer stalled"
                 : rc == GS_FETCH_ECUT ? "the connection broke"
                                       : (msg ? msg : "the transfer failed"),
                 (long long)f->have);
        file_retry(f, why, false);
        return;
    }
    if (in->status == 416 && !(f->size >= 0 && f->have == f->size)) {
        /* .part is longer than the file, or the size is unknown: start again. */
        if (ftruncate(f->fd, 0) == 0)
            f->have = 0;
        file_retry(f, "the server refused to resume", false);
        return;
    }
    if (f->size >= 0 && f->have < f->size) {
        snprintf(why, sizeof why, "the connection ended after %lld of %lld bytes",
                 (long long)f->have, (long long)f->size);
        file_retry(f, why, false);
        return;
    }
    file_verify(f);
}

/* Hash the whole .part on a worker thread: GBs must not stall the loop. */
static void hash_work(uv_work_t *w)
{
    dl_file *f = w->data;
    f->hash_rc = 0;
    const char *why = NULL;
    if (gs_sslso_load(&why) < 0) { /* hash_done says why */
        f->hash_rc = -ENOSYS;
        return;
    }
    int fd = open(f->part, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        f->hash_rc = -errno;
        return;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    size_t bufsz = 1 << 20;
    unsigned char *buf = gs_mem_alloc(bufsz);
    for (;;) {
        ssize_t n = read(fd, buf, bufsz);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            f->hash_rc = -errno;
            break;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    }
    unsigned char md[32];
    unsigned int mdl = 0;
    EVP_DigestFinal_ex(ctx, md, &mdl);
    for (int i = 0; i < 32; i++)
        snprintf(f->got + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(ctx);
    free(buf);
    close(fd);
}

static void fsync_dir(const char *path)
{
    char *d = gs_mem_strdup(path);
    char *s = strrchr(d, '/');
    if (s)
        *s = 0;
    int fd = open(s ? d : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(d);
}

static void hash_done(uv_work_t *w, int status)
{
    dl_file *f = w->data;
    f->hashing = false;
    if (uv_is_closing((uv_handle_t *)&f->timer)) {
        /* Cancelled or shut down while hashing: the close callback already ran. */
        file_closed((uv_handle_t *)&f->timer);
        return;
    }
    char msg[900];
    if (f->hash_rc < 0) {
        const char *why = NULL;
        if (f->hash_rc != -ENOSYS || gs_sslso_load(&why) == 0)
            why = strerror(-f->hash_rc);
        snprintf(msg, sizeof msg, "%s: cannot read %s to verify it: %s", f->name, f->part, why);
        file_close_fd(f);
        file_set_state(f, GS_DL_FAILED, msg);
        return;
    }
    if (f->sha256[0] && strcmp(f->sha256, f->got) != 0 && f->in_place) {
        snprintf(msg, sizeof msg,
                 "%s is already there but differs from the Hub's (sha256 %s, the Hub says %s): "
                 "move it away and pull again",
                 f->dest, f->got, f->sha256);
        file_close_fd(f);
        file_set_state(f, GS_DL_FAILED, msg);
        return;
    }
    if (f->sha256[0] && strcmp(f->sha256, f->got) != 0) {
        snprintf(msg, sizeof msg,
                 "%s: sha256 mismatch: the Hub says %s, the download is %s; the download was "
                 "deleted (pull again)",
                 f->name, f->sha256, f->got);
        unlink(f->part);
        file_close_fd(f);
        file_set_state(f, GS_DL_FAILED, msg);
        return;
    }
    if (!f->sha256[0]) {
        free(f->warning);
        f->warning = gs_mem_printf("%s: the server gave no sha256; the file is not verified",
                                   f->name);
        gs_warn("pull: %s", f->warning);
    }
    if (rename(f->part, f->dest) < 0) {
        snprintf(msg, sizeof msg, "%s: cannot rename %s to %s: %s", f->name, f->part, f->dest,
                 strerror(errno));
        file_close_fd(f);
        file_set_state(f, GS_DL_FAILED, msg);
        return;
    }
    fsync_dir(f->dest);
    file_close_fd(f);
    gs_info("pull: %s complete and verified (sha256 %s)", f->dest, f->got);
    file_set_state(f, GS_DL_DONE, NULL);
}

static void file_verify(dl_file *f)
{
    if (f->fd >= 0 && fsync(f->fd) < 0 && errno != EINVAL) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: cannot write %s: %s", f->name, f->part, strerror(errno));
        file_close_fd(f);
        file_set_state(f, GS_DL_FAILED, msg);
        return;
    }
    f->hashing = true;
    f->work.data = f;
    file_set_state(f, GS_DL_VERIFYING, NULL);
    uv_queue_work(f->m->loop, &f->work, hash_work, hash_done);
}

/* Take .part, or learn that another process has it. */
static int open_part(dl_file *f)
{
    int fd = open(f->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? -EWOULDBLOCK : -e;
    }
    f->fd = fd;
    f->owned = true;
    return 0;
}

static void file_start(dl_file *f)
{
    gs_dl_mgr *m = f->m;
    char msg[900];
    struct stat st;
    if (f->fd < 0) {
        int rc = open_part(f);
        if (rc == -EWOULDBLOCK) {
            free(f->warning);
            f->warning = gs_mem_printf("another ggswap is downloading %s; waiting for it",
                                       f->name);
            uv_timer_start(&f->timer, on_retry_timer, 1000, 0);
            files_changed(f, false);
            return;
        }
        if (rc < 0) {
            snprintf(msg, sizeof msg, "%s: cannot create %s: %s", f->name, f->part,
                     strerror(-rc));
            file_set_state(f, GS_DL_FAILED, msg);
            return;
        }
        /* Whoever held the lock may have finished meanwhile: then the file is there. */
        if (stat(f->dest, &st) == 0) {
            if (fstat(f->fd, &st) == 0 && st.st_size == 0)
                unlink(f->part);
            file_close_fd(f);
            free(f->part);
            f->part = gs_mem_strdup(f->dest); /* verify in place, no rename needed */
            f->in_place = true;
            free(f->warning);
            f->warning = NULL;
            snprintf(msg, sizeof msg, "%s is already there", f->dest);
            f->fd = open(f->dest, O_RDONLY | O_CLOEXEC);
            f->have = f->size >= 0 ? f->size : 0;
            gs_info("pull: %s", msg);
            file_verify(f);
            return;
        }
    }
    if (fstat(f->fd, &st) < 0) {
        snprintf(msg, sizeof msg, "%s: cannot stat %s: %s", f->name, f->part, strerror(errno));
        file_close_fd(f);
        file_set_state(f, GS_DL_FAILED, msg);
        return;
    }
    f->have = st.st_size;
    if (f->size >= 0 && f->have > f->size) {
        if (ftruncate(f->fd, 0) == 0)
            f->have = 0;
    }
    if (lseek(f->fd, 0, SEEK_END) < 0) {
        snprintf(msg, sizeof msg, "%s: cannot seek %s: %s", f->name, f->part, strerror(errno));
        file_close_fd(f);
        file_set_state(f, GS_DL_FAILED, msg);
        return;
    }
    if (f->size >= 0 && f->have == f->size && f->have > 0) {
        gs_info("pull: %s is complete in %s; verifying", f->name, f->part);
        file_verify(f);
        return;
    }
    if (f->have > 0)
        gs_info("pull: resuming %s at byte %lld", f->name, (long long)f->have);
    f->attempt_start = f->have;
    f->abort_why[0] = 0;
    f->abort_permanent = false;
    f->restart = false;
    gs_fetch_opts o = {
        .url = f->url,
        .bearer = f->bearer ? m->token : NULL,
        .range_from = f->have,
        .stall_s = m->stall_s,
        .on_head = on_head,
        .on_data = on_data,
        .on_done = on_done,
        .ud = f,
    };
    int rc = gs_fetch_start(m->fetch, &o, &f->req);
    if (rc < 0) {
        snprintf(msg, sizeof msg, "%s: cannot start the transfer: %s", f->name, gs_fetch_strerror(rc));
        file_close_fd(f);
        file_set_state(f, GS_DL_FAILED, msg);
    }
}

/* The file for dest, shared with a job that already fetches it. */
static dl_file *file_get(gs_dl_mgr *m, const char *dir, const char *name, const char *url,
                         const char *sha256, int64_t size, bool bearer)
{
    char *dest = gs_mem_printf("%s/%s", dir, name);
    for (dl_file *f = m->files; f; f = f->next) {
        if (!finished(f->state) && strcmp(f->dest, dest) == 0) {
            free(dest);
            f->users++;
            return f;
        }
    }
    dl_file *f = gs_mem_calloc(1, sizeof *f);
    f->m = m;
    f->dest = dest;
    f->part = gs_mem_printf("%s.part", dest);
    f->name = gs_mem_strdup(name);
    f->url = gs_mem_strdup(url);
    snprintf(f->sha256, sizeof f->sha256, "%s", sha256 ? sha256 : "");
    f->size = size;
    f->fd = -1;
    f->bearer = bearer;
    f->users = 1;
    uv_timer_init(m->loop, &f->timer);
    f->timer.data = f;
    f->next = m->files;
    m->files = f;
    uv_timer_start(&f->timer, on_retry_timer, 0, 0);
    return f;
}

/* ---- jobs: the tree listing ---- */

static void url_path(gs_buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/'))
            gs_buf_append(b, p, 1);
        else
            gs_buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
    }
}

static char *resolve_url(gs_dl_mgr *m, const gs_hub_ref *r, const char *path)
{
    gs_buf b;
    gs_buf_init(&b, 8192);
    gs_buf_printf(&b, "%s/%s/resolve/", m->endpoint, r->repo);
    url_path(&b, r->rev, false);
    gs_buf_puts(&b, "/");
    url_path(&b, path, true);
    return gs_buf_steal(&b);
}

static void tree_fetch(gs_dl_job *j, const char *url);

static void job_files_chosen(gs_dl_job *j)
{
    gs_dl_mgr *m = j->m;
    char err[900];
    int pick[GS_HUB_MAX_PICK];
    int np = gs_hub_select(j->hf, j->nhf, &j->hr, pick, GS_HUB_MAX_PICK, err, sizeof err);
    if (np < 0) {
        job_set_state(j, GS_DL_FAILED, err);
        return;
    }
    /* Free disk space for everything this pull still has to fetch, before any byte. */
    uint64_t need = 0, avail = 0;
    for (int i = 0; i < np; i++) {
        const gs_hub_file *hf = &j->hf[pick[i]];
        char *dest = gs_mem_printf("%s/%s", j->dir, gs_hub_local_name(hf->path));
        char *part = gs_mem_printf("%s.part", dest);
        struct stat st;
        if (hf->size > 0 && stat(dest, &st) < 0) {
            int64_t have = stat(part, &st) == 0 ? st.st_size : 0;
            if (have < hf->size)
                need += (uint64_t)(hf->size - have);
        }
        free(dest);
        free(part);
    }
    if (free_space(j->dir, &avail) == 0 && avail < need + m->reserve) {
        char a[32], b[32];
        snprintf(err, sizeof err,
                 "not enough free disk space in %s: this pull needs %s, %s is free (free some "
                 "space or pull into another folder with --models-dir)",
                 j->dir, human((int64_t)need, a, sizeof a), human((int64_t)avail, b, sizeof b));
        job_set_state(j, GS_DL_FAILED, err);
        return;
    }
    j->files = gs_mem_calloc((size_t)np, sizeof *j->files);
    for (int i = 0; i < np; i++) {
        const gs_hub_file *hf = &j->hf[pick[i]];
        char *url = resolve_url(m, &j->hr, hf->path);
        j->files[j->nfiles++] = file_get(m, j->dir, gs_hub_local_name(hf->path), url,
                                         hf->sha256, hf->size, true);
        free(url);
    }
    job_update(j);
    notify(j, true);
}

static void on_job_timer(uv_timer_t *t)
{
    gs_dl_job *j = t->data;
    char *u = gs_mem_printf("%s/api/models/%s/tree/%s?recursive=true", j->m->endpoint,
                            j->hr.repo, j->hr.rev);
    tree_fetch(j, u);
    free(u);
}

static int tree_data(gs_fetch_req *r, const char *data, size_t len, void *ud)
{
    gs_dl_job *j = ud;
    return gs_buf_append(&j->tree, data, len);
}

static void tree_done(gs_fetch_req *r, int rc, const char *msg, const gs_fetch_info *in, void *ud)
{
    gs_dl_job *j = ud;
    gs_dl_mgr *m = j->m;
    j->tree_req = NULL;
    char err[900];
    bool transient = rc == GS_FETCH_ENET || rc == GS_FETCH_ESTALL || rc == GS_FETCH_ECUT ||
                     rc == -EIO || (rc == 0 && transient_status(in->status));
    if (rc == GS_FETCH_EABORT) {
        snprintf(err, sizeof err, "the Hub's file list for %s is larger than %u MiB", j->hr.repo,
                 TREE_MAX >> 20);
        job_set_state(j, GS_DL_FAILED, err);
        return;
    }
    if (rc == 0 && in->status >= 200 && in->status < 300) {
        if (gs_hub_tree_parse(j->tree.data ? j->tree.data : "", j->tree.len, &j->hf, &j->nhf) <
            0) {
            snprintf(err, sizeof err,
                     "the Hub's file list for %s is not what ggswap expects (not a JSON list); "
                     "is $HF_ENDPOINT a Hugging Face Hub?",
                     j->hr.repo);
            job_set_state(j, GS_DL_FAILED, err);
            return;
        }
        gs_buf_reset(&j->tree);
        if (in->next_url[0] && ++j->tree_pages < TREE_PAGES) {
            tree_fetch(j, in->next_url);
            return;
        }
        job_files_chosen(j);
        return;
    }
    if (rc == 0) {
        json_t *o = json_loadb(j->tree.data ? j->tree.data : "", j->tree.len, 0, NULL);
        const char *hm = json_string_value(json_object_get(o, "error"));
        gs_hub_http_error(in->status, in->error_code[0] ? in->error_code : NULL, hm, j->hr.repo,
                          m->token != NULL, err, sizeof err);
        json_decref(o);
    } else if (rc == GS_FETCH_ENET) {
        snprintf(err, sizeof err, "cannot reach the Hub at %s (%s): check the network "
                 "connection%s", m->endpoint, msg ? msg : "no connection",
                 getenv("HF_ENDPOINT") ? " and $HF_ENDPOINT" : "");
    } else {
        snprintf(err, sizeof err, "asking the Hub for %s's files failed: %s", j->hr.repo,
                 msg ? msg : "?");
    }
    int max = rc == GS_FETCH_ENET ? 3 : m->max_attempts;
    if (transient && ++j->attempt < max) {
        unsigned delay = m->backoff_ms << (j->attempt - 1 < 5 ? j->attempt - 1 : 5);
        if (delay > 30000)
            delay = 30000;
        gs_warn("pull %s: %s; retrying in %.1f s", j->ref, err, delay / 1000.0);
        gs_buf_reset(&j->tree);
        uv_timer_start(&j->timer, on_job_timer, delay, 0);
        return;
    }
    job_set_state(j, GS_DL_FAILED, err);
}

static void tree_fetch(gs_dl_job *j, const char *url)
{
    gs_fetch_opts o = {
        .url = url,
        .bearer = j->m->token,
        .stall_s = j->m->stall_s,
        .on_data = tree_data,
        .on_done = tree_done,
        .ud = j,
    };
    int rc = gs_fetch_start(j->m->fetch, &o, &j->tree_req);
    if (rc < 0) {
        char err[200];
        snprintf(err, sizeof err, "cannot ask the Hub: %s", gs_fetch_strerror(rc));
        job_set_state(j, GS_DL_FAILED, err);
    }
}

/* ---- the manager ---- */

gs_dl_mgr *gs_dl_mgr_new(uv_loop_t *loop, const gs_dl_opts *o)
{
    gs_dl_mgr *m = gs_mem_calloc(1, sizeof *m);
    m->loop = loop;
    m->fetch = gs_fetch_new(loop);
    const char *ep = o->endpoint ? o->endpoint : getenv("HF_ENDPOINT");
    if (!ep || !*ep)
        ep = GS_HUB_DEFAULT_ENDPOINT;
    m->endpoint = gs_mem_strdup(ep);
    size_t el = strlen(m->endpoint);
    while (el > 0 && m->endpoint[el - 1] == '/')
        m->endpoint[--el] = 0;
    const char *tok = o->token ? o->token : getenv("HF_TOKEN");
    m->token = tok && *tok ? gs_mem_strdup(tok) : NULL;
    m->token_from = gs_mem_strdup(o->token_from ? o->token_from : "$HF_TOKEN");
    const char *e;
    m->stall_s = o->stall_s > 0 ? o->stall_s
                 : (e = getenv("GGSWAP_PULL_STALL_S")) && atol(e) > 0 ? atol(e)
                                                                       : 30;
    m->max_attempts = o->max_attempts > 0 ? o->max_attempts : 6;
    m->backoff_ms = o->backoff_ms ? o->backoff_ms
                    : (e = getenv("GGSWAP_PULL_BACKOFF_MS")) && atol(e) > 0 ? (unsigned)atol(e)
                                                                             : 1000;
    m->reserve = o->reserve_bytes ? o->reserve_bytes : (256u << 20);
    if ((e = getenv("GGSWAP_PULL_RESERVE")))
        m->reserve = strtoull(e, NULL, 10);
    m->on_change = o->on_change;
    m->ud = o->ud;
    return m;
}

static void job_closed(uv_handle_t *h)
{
    gs_dl_job *j = h->data;
    free(j->ref);
    free(j->dir);
    free(j->error);
    gs_buf_free(&j->tree);
    gs_hub_files_free(j->hf, j->nhf);
    free(j->files);
    free(j);
}

static void job_destroy(gs_dl_job *j)
{
    if (j->tree_req)
        gs_fetch_cancel(j->tree_req);
    j->tree_req = NULL;
    for (int i = 0; i < j->nfiles; i++)
        file_release(j->files[i], false);
    j->nfiles = 0;
    uv_timer_stop(&j->timer);
    uv_close((uv_handle_t *)&j->timer, job_closed);
}

void gs_dl_mgr_free(gs_dl_mgr *m)
{
    if (!m)
        return;
    m->on_change = NULL;
    while (m->jobs) {
        gs_dl_job *j = m->jobs;
        m->jobs = j->next;
        job_destroy(j);
    }
    while (m->files)
        file_destroy(m->files);
    gs_fetch_free(m->fetch);
    free(m->endpoint);
    free(m->token);
    free(m->token_from);
    free(m);
}

int gs_dl_pull(gs_dl_mgr *m, const char *ref, const char *quant, const char *dir,
               gs_dl_job **out, char *err, size_t errlen)
{
    gs_hub_ref hr;
    int rc = gs_hub_parse_ref(ref, quant, m->endpoint, &hr, err, errlen);
    if (rc < 0)
        return rc;
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "the model folder %s does not exist or is not a folder", dir);
        return -ENOENT;
    }
    gs_dl_job *j = gs_mem_calloc(1, sizeof *j);
    j->m = m;
    snprintf(j->id, sizeof j->id, "%d", ++m->next_id);
    j->ref = gs_mem_strdup(ref);
    j->dir = gs_mem_strdup(dir);
    j->hr = hr;
    j->started_ms = uv_now(m->loop);
    gs_buf_init(&j->tree, TREE_MAX);
    uv_timer_init(m->loop, &j->timer);
    j->timer.data = j;
    j->next = m->jobs;
    m->jobs = j;
    gs_info("pull %s (%s) into %s", ref, j->id, dir);
    if (hr.kind == GS_HUB_REF_URL) {
        const char *q = hr.url + strcspn(hr.url, "?#");
        char path[1024];
        snprintf(path, sizeof path, "%.*s", (int)(q - hr.url), hr.url);
        const char *name = gs_hub_local_name(strrchr(path, '/') + 1);
        if (!name) {
            snprintf(err, errlen, "'%s' does not end in a usable .gguf file name", ref);
            m->jobs = j->next;
            job_destroy(j);
            return -EINVAL;
        }
        j->files = gs_mem_calloc(1, sizeof *j->files);
        j->files[j->nfiles++] = file_get(m, dir, name, hr.url, NULL, -1, false);
        job_update(j);
    } else {
        uv_timer_start(&j->timer, on_job_timer, 0, 0);
    }
    if (out)
        *out = j;
    return 0;
}

int gs_dl_cancel(gs_dl_mgr *m, const char *id)
{
    for (gs_dl_job *j = m->jobs; j; j = j->next) {
        if (strcmp(j->id, id) != 0)
            continue;
        if (finished(j->state))
            return -EALREADY;
        if (j->tree_req)
            gs_fetch_cancel(j->tree_req);
        j->tree_req = NULL;
        uv_timer_stop(&j->timer);
        int n = j->nfiles;
        j->nfiles = 0;
        for (int i = 0; i < n; i++)
            file_release(j->files[i], true);
        job_set_state(j, GS_DL_CANCELLED, NULL);
        return 0;
    }
    return -ENOENT;
}

void gs_dl_prune(gs_dl_mgr *m, int keep)
{
    int seen = 0;
    for (gs_dl_job **pp = &m->jobs; *pp;) {
        gs_dl_job *j = *pp;
        if (finished(j->state) && ++seen > keep) {
            *pp = j->next;
            job_destroy(j);
            continue;
        }
        pp = &j->next;
    }
}

gs_fetch *gs_dl_mgr_fetch(gs_dl_mgr *m) { return m->fetch; }
const char *gs_dl_mgr_endpoint(const gs_dl_mgr *m) { return m->endpoint; }
const char *gs_dl_mgr_token(const gs_dl_mgr *m) { return m->token; }
const char *gs_dl_job_id(const gs_dl_job *j) { return j->id; }
gs_dl_state gs_dl_job_state(const gs_dl_job *j) { return j->state; }
const char *gs_dl_job_error(const gs_dl_job *j) { return j->state == GS_DL_FAILED ? j->error : NULL; }

const char *gs_dl_job_file(const gs_dl_job *j)
{
    if (j->nfiles)
        return j->files[0]->name;
    if (j->hr.kind == GS_HUB_REF_FILE) {
        const char *s = strrchr(j->hr.path, '/');
        return s ? s + 1 : j->hr.path;
    }
    return j->ref;
}

int64_t gs_dl_job_done(const gs_dl_job *j)
{
    int64_t d = 0;
    for (int i = 0; i < j->nfiles; i++)
        d += j->files[i]->have;
    return d;
}

int64_t gs_dl_job_total(const gs_dl_job *j)
{
    if (!j->nfiles)
        return -1;
    int64_t t = 0;
    for (int i = 0; i < j->nfiles; i++) {
        if (j->files[i]->size < 0)
            return -1;
        t += j->files[i]->size;
    }
    return t;
}

double gs_dl_job_speed(const gs_dl_job *j)
{
    double s = 0;
    for (int i = 0; i < j->nfiles; i++)
        s += j->files[i]->speed;
    return s;
}

const char *gs_dl_job_path(const gs_dl_job *j, int i)
{
    if (i < 0 || i >= j->nfiles || j->files[i]->state != GS_DL_DONE)
        return NULL;
    return j->files[i]->dest;
}

json_t *gs_dl_job_json(const gs_dl_job *j)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:f,s:I}", "id", j->id, "ref", j->ref,
                          "file", gs_dl_job_file(j), "dir", j->dir, "done",
                          (json_int_t)gs_dl_job_done(j), "total",
                          (json_int_t)gs_dl_job_total(j), "state", gs_dl_state_name(j->state),
                          "speed", gs_dl_job_speed(j), "started",
                          (json_int_t)j->started_ms);
    if (j->error && j->state == GS_DL_FAILED)
        json_object_set_new(o, "error", json_string(j->error));
    json_t *files = json_array();
    for (int i = 0; i < j->nfiles; i++) {
        dl_file *f = j->files[i];
        json_t *fo = json_pack("{s:s,s:s,s:I,s:I,s:s}", "file", f->name, "path", f->dest, "done",
                               (json_int_t)f->have, "total", (json_int_t)f->size, "state",
                               gs_dl_state_name(f->state));
        if (f->warning && !finished(f->state))
            json_object_set_new(fo, "note", json_string(f->warning));
        if (f->sha256[0])
            json_object_set_new(fo, "sha256", json_string(f->sha256));
        json_array_append_new(files, fo);
    }
    json_object_set_new(o, "files", files);
    return o;
}

json_t *gs_dl_list_json(const gs_dl_mgr *m)
{
    json_t *a = json_array();
    for (gs_dl_job *j = m ? m->jobs : NULL; j; j = j->next)
        json_array_append_new(a, gs_dl_job_json(j));
    return a;
}

int gs_dl_active(const gs_dl_mgr *m)
{
    int n = 0;
    for (gs_dl_job *j = m->jobs; j; j = j->next)
        n += !finished(j->state);
    return n;
}
