#include "slotcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "mem.h"

#define KEY_FILE ".ggswap-slots-key"
#define MAX_SLOTS 256
#define MAX_ANSWER (1024 * 1024)
#define MAX_FILES 4096

/* ---- command lines ---- */

typedef struct kv_flag {
    const char *names[3];
    int values; /* how many arguments follow; -1: one unless the next word is a flag */
} kv_flag;

/* The llama-server flags that change what a saved slot means: the file layout (context, slots,
 * cache types, SWA, unified cache) or the K/V contents (RoPE, LoRA, control vectors, overridden
 * metadata). The first name is the one used in the key. */
static const kv_flag kv_flags[] = {
    {{"--model", "-m"}, 1},
    {{"--ctx-size", "-c"}, 1},
    {{"--parallel", "-np"}, 1},
    {{"--cache-type-k", "-ctk"}, 1},
    {{"--cache-type-v", "-ctv"}, 1},
    {{"--flash-attn", "-fa"}, -1},
    {{"--swa-full"}, 0},
    {{"--kv-unified", "-kvu"}, 0},
    {{"--no-kv-unified", "-no-kvu"}, 0},
    {{"--rope-scaling"}, 1},
    {{"--rope-scale"}, 1},
    {{"--rope-freq-base"}, 1},
    {{"--rope-freq-scale"}, 1},
    {{"--yarn-orig-ctx"}, 1},
    {{"--yarn-ext-factor"}, 1},
    {{"--yarn-attn-factor"}, 1},
    {{"--yarn-beta-slow"}, 1},
    {{"--yarn-beta-fast"}, 1},
    {{"--lora"}, 1},
    {{"--lora-scaled"}, 2},
    {{"--control-vector"}, 1},
    {{"--control-vector-scaled"}, 2},
    {{"--override-kv"}, 1},
};

/* Does word a name this flag, alone or as "--flag=value"? Sets *inline_val for the latter. */
static bool flag_match(const char *a, const char *const *names, const char **inline_val)
{
    *inline_val = NULL;
    for (int k = 0; k < 3 && names[k]; k++) {
        size_t n = strlen(names[k]);
        if (strncmp(a, names[k], n) != 0)
            continue;
        if (a[n] == 0)
            return true;
        if (a[n] == '=') {
            *inline_val = a + n + 1;
            return true;
        }
    }
    return false;
}

const char *gs_slotcache_argv_value(char *const *argv, int argc, const char *const *names)
{
    const char *found = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!flag_match(argv[i], names, &v))
            continue;
        if (v)
            found = v;
        else if (i + 1 < argc)
            found = argv[++i];
    }
    return found; /* the last one wins, as in llama-server */
}

const char *gs_slotcache_model_file(char *const *argv, int argc)
{
    static const char *const names[] = {"--model", "-m", NULL};
    return gs_slotcache_argv_value(argv, argc, names);
}

const char *gs_slotcache_argv_dir(char *const *argv, int argc)
{
    static const char *const names[] = {"--slot-save-path", NULL, NULL};
    return gs_slotcache_argv_value(argv, argc, names);
}

bool gs_slotcache_is_llama_server(char *const *argv, int argc)
{
    if (argc < 1 || !argv[0])
        return false;
    const char *b = strrchr(argv[0], '/');
    b = b ? b + 1 : argv[0];
    return strncmp(b, "llama-server", 12) == 0;
}

/* A program named without a '/' is looked up on PATH, as exec does. */
static bool which(const char *prog, char *out, size_t cap)
{
    if (strchr(prog, '/')) {
        snprintf(out, cap, "%s", prog);
        return true;
    }
    const char *path = getenv("PATH");
    for (const char *p = path; p && *p;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        snprintf(out, cap, "%.*s/%s", (int)n, p, prog);
        if (access(out, X_OK) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

static void key_file_line(gs_buf *b, const char *what, const char *path)
{
    struct stat st;
    if (path && stat(path, &st) == 0)
        gs_buf_printf(b, "%s=%s %lld %lld.%09ld\n", what, path, (long long)st.st_size,
                      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    else
        gs_buf_printf(b, "%s=%s\n", what, path ? path : "");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *gs_slotcache_key(char *const *argv, int argc)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    char prog[PATH_MAX];
    key_file_line(&b, "program", argc > 0 && which(argv[0], prog, sizeof prog) ? prog : NULL);
    key_file_line(&b, "model-file", gs_slotcache_model_file(argv, argc));
    /* Flags in a sorted order: writing them in another order is the same layout. */
    char **lines = gs_mem_calloc((size_t)argc + 1, sizeof *lines);
    int nl = 0;
    for (int i = 1; i < argc; i++) {
        for (size_t f = 0; f < GS_ARRAY_LEN(kv_flags); f++) {
            const char *iv;
            if (!flag_match(argv[i], kv_flags[f].names, &iv))
                continue;
            gs_buf l;
            gs_buf_init(&l, 0);
            gs_buf_puts(&l, kv_flags[f].names[0]);
            int want = kv_flags[f].values;
            if (iv) {
                gs_buf_printf(&l, " %s", iv);
                want = want > 0 ? want - 1 : 0;
            } else if (want < 0) {
                want = i + 1 < argc && argv[i + 1][0] != '-' ? 1 : 0;
            }
            for (; want > 0 && i + 1 < argc; want--)
                gs_buf_printf(&l, " %s", argv[++i]);
            lines[nl++] = gs_buf_steal(&l);
            break;
        }
    }
    qsort(lines, (size_t)nl, sizeof *lines, cmp_str);
    for (int i = 0; i < nl; i++) {
        gs_buf_printf(&b, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    return gs_buf_steal(&b);
}

char *gs_slotcache_dir_name(const char *model)
{
    /* FNV-1a: two ids that differ only in replaced characters still get two folders. */
    uint32_t h = 2166136261u;
    gs_buf b;
    gs_buf_init(&b, 0);
    for (const unsigned char *p = (const unsigned char *)model; *p; p++) {
        h = (h ^ *p) * 16777619u;
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.';
        if (b.len < 80)
            gs_buf_append(&b, ok ? (const char *)p : "_", 1);
    }
    if (b.len && b.data[0] == '.')
        b.data[0] = '_';
    gs_buf_printf(&b, "-%08x", h);
    return gs_buf_steal(&b);
}

/* ---- LRU ---- */

static const gs_slot_file *g_sort_files;

static int cmp_age(const void *a, const void *b)
{
    const gs_slot_file *x = &g_sort_files[*(const int *)a], *y = &g_sort_files[*(const int *)b];
    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? -1 : 1;
    return strcmp(x->path, y->path);
}

int gs_slotcache_pick_evict(const gs_slot_file *f, int n, uint64_t cap, unsigned char *drop)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        total += f[i].bytes;
        drop[i] = 0;
    }
    if (total <= cap)
        return 0;
    int *order = gs_mem_calloc((size_t)n + 1, sizeof *order);
    for (int i = 0; i < n; i++)
        order[i] = i;
    g_sort_files = f;
    qsort(order, (size_t)n, sizeof *order, cmp_age);
    g_sort_files = NULL;
    int k = 0;
    for (int i = 0; i < n && total > cap; i++) {
        drop[order[i]] = 1;
        total -= f[order[i]].bytes;
        k++;
    }
    free(order);
    return k;
}

/* ---- /slots answers ---- */

static json_t *slots_array(const char *json, size_t len)
{
    json_t *a = json_loadb(json, len, 0, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return NULL;
    }
    return a;
}

int gs_slotcache_count_slots(const char *json, size_t len)
{
    json_t *a = slots_array(json, len);
    if (!a)
        return -1;
    int n = (int)json_array_size(a);
    json_decref(a);
    return n;
}

int gs_slotcache_busy_slots(const char *json, size_t len, int *ids, int max)
{
    json_t *a = slots_array(json, len);
    if (!a)
        return -1;
    int k = 0;
    size_t i;
    json_t *s;
    json_array_foreach(a, i, s)
    {
        json_t *id = json_object_get(s, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > 100000)
            continue;
        if (json_is_true(json_object_get(s, "is_processing")))
            continue; /* mid-answer: its cache is not a finished conversation */
        /* Builds differ: n_prompt_tokens (recent), n_past or a prompt text (older). */
        json_t *np = json_object_get(s, "n_prompt_tokens");
        json_t *past = json_object_get(s, "n_past");
        json_t *prompt = json_object_get(s, "prompt");
        bool holds = (json_is_integer(np) && json_integer_value(np) > 0) ||
                     (json_is_integer(past) && json_integer_value(past) > 0) ||
                     (json_is_string(prompt) && json_string_length(prompt) > 0);
        if (holds && k < max)
            ids[k++] = (int)json_integer_value(id);
    }
    json_decref(a);
    return k;
}

/* ---- the folder ---- */

static int mkdirs(const char *dir)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return -ENAMETOOLONG;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = 0;
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            return -errno;
        *q = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* "slot12.bin" (with part: "slot12.bin.part") -> 12; else -1. */
static int slot_file_id(const char *name, bool *part)
{
    if (strncmp(name, "slot", 4) != 0)
        return -1;
    const char *d = name + 4;
    char *end;
    long id = strtol(d, &end, 10);
    if (end == d || id < 0 || id > 100000 || strncmp(end, ".bin", 4) != 0)
        return -1;
    if (end[4] == 0) {
        *part = false;
        return (int)id;
    }
    if (strcmp(end + 4, ".part") == 0) {
        *part = true;
        return (int)id;
    }
    return -1;
}

static char *read_small(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = gs_mem_alloc(64 * 1024 + 1);
    size_t n = fread(buf, 1, 64 * 1024, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

int gs_slotcache_prepare(const char *dir, const char *key)
{
    int rc = mkdirs(dir);
    if (rc < 0)
        return rc;
    char kp[PATH_MAX];
    snprintf(kp, sizeof kp, "%s/" KEY_FILE, dir);
    char *old = read_small(kp);
    bool same = old && strcmp(old, key) == 0;
    free(old);
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int dropped = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        bool part;
        if (slot_file_id(e->d_name, &part) < 0 || (same && !part))
            continue;
        char fp[PATH_MAX];
        snprintf(fp, sizeof fp, "%s/%s", dir, e->d_name);
        if (unlink(fp) == 0 && !part)
            dropped++;
    }
    closedir(d);
    if (dropped)
        gs_info("slot cache %s: dropped %d saved slot%s: the model file or its KV arguments "
                "changed", dir, dropped, dropped == 1 ? "" : "s");
    if (!same) {
        char tp[PATH_MAX];
        snprintf(tp, sizeof tp, "%s/" KEY_FILE ".tmp", dir);
        FILE *f = fopen(tp, "w");
        if (!f)
            return -errno;
        bool ok = fputs(key, f) >= 0;
        ok &= fclose(f) == 0;
        if (!ok || rename(tp, kp) < 0) {
            unlink(tp);
            return -EIO;
        }
    }
    return 0;
}

static void collect(const char *dir, gs_slot_file **v, int *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && *n < MAX_FILES) {
        bool part;
        if (slot_file_id(e->d_name, &part) < 0 || part)
            continue;
        char fp[PATH_MAX];
        struct stat st;
        if (snprintf(fp, sizeof fp, "%s/%s", dir, e->d_name) >= (int)sizeof fp ||
            stat(fp, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        *v = gs_mem_realloc(*v, sizeof **v * (size_t)(*n + 1));
        (*v)[*n].path = gs_mem_strdup(fp);
        (*v)[*n].bytes = (uint64_t)st.st_size;
        (*v)[*n].mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        (*n)++;
    }
    closedir(d);
}

void gs_slotcache_trim(const char *root, uint64_t cap)
{
    DIR *d = opendir(root);
    if (!d)
        return;
    gs_slot_file *v = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", root, e->d_name);
        collect(sub, &v, &n);
    }
    closedir(d);
    unsigned char *drop = gs_mem_calloc((size_t)n + 1, 1);
    int k = gs_slotcache_pick_evict(v, n, cap, drop);
    for (int i = 0; i < n; i++) {
        if (drop[i] && unlink(v[i].path) == 0)
            gs_info("slot cache: removed %s (%llu bytes; the cache is over its %llu bytes)",
                    v[i].path, (unsigned long long)v[i].bytes, (unsigned long long)cap);
        free(v[i].path);
    }
    (void)k;
    free(drop);
    free(v);
}

/* ---- save and restore ---- */

typedef enum op_phase {
    PH_LIST = 0, /* GET /slots */
    PH_EACH,     /* one POST per slot */
    PH_OVER,     /* callback given, or cancelled; handles closing */
} op_phase;

struct gs_slotcache_op {
    bool save;
    op_phase phase;
    uv_loop_t *loop;
    gs_upstream_pool *pool;
    char *model, *dir, *root, *auth;
    uint64_t cap;
    unsigned timeout_ms;
    uv_timer_t timer;
    gs_upstream_req *up;
    gs_buf answer;
    int status;
    int ids[MAX_SLOTS];
    int nids, next, ndone;
    uint64_t bytes;
    uint64_t t0;
    gs_slotcache_cb cb;
    void *ud;
};

static void step(gs_slotcache_op *op, int err, const char *msg);

static void op_closed(uv_handle_t *h)
{
    gs_slotcache_op *op = h->data;
    gs_buf_free(&op->answer);
    free(op->model);
    free(op->dir);
    free(op->root);
    free(op->auth);
    free(op);
}

static void op_end(gs_slotcache_op *op, bool call)
{
    if (op->phase == PH_OVER)
        return;
    op->phase = PH_OVER;
    if (op->up) {
        gs_upstream_cancel(op->up);
        op->up = NULL;
    }
    double ms = (double)(gs_clock_ns() - op->t0) / 1e6;
    if (call) {
        if (op->save && op->ndone)
            gs_info("model %s: saved %d slot%s (%.1f MB) in %.0f ms to %s", op->model, op->ndone,
                    op->ndone == 1 ? "" : "s", (double)op->bytes / 1e6, ms, op->dir);
        else if (!op->save && op->ndone)
            gs_info("model %s: restored %d slot%s (%.1f MB) in %.0f ms", op->model, op->ndone,
                    op->ndone == 1 ? "" : "s", (double)op->bytes / 1e6, ms);
        if (op->save && op->root && op->cap)
            gs_slotcache_trim(op->root, op->cap);
    }
    uv_timer_stop(&op->timer);
    uv_close((uv_handle_t *)&op->timer, op_closed);
    if (call && op->cb)
        op->cb(op->ndone, op->ud);
}

static void up_head(gs_upstream_req *r, int status, const gs_http_header *h, int n, int64_t clen,
                    void *ud)
{
    ((gs_slotcache_op *)ud)->status = status;
}

static void up_body(gs_upstream_req *r, const char *d, size_t n, void *ud)
{
    gs_slotcache_op *op = ud;
    gs_buf_append(&op->answer, d, n); /* past the bound the answer stays cut and fails to parse */
}

static void up_done(gs_upstream_req *r, int err, const char *msg, void *ud)
{
    gs_slotcache_op *op = ud;
    op->up = NULL;
    step(op, err, msg);
}

static const gs_upstream_cbs op_cbs = {up_head, up_body, up_done, NULL};

static void send_req(gs_slotcache_op *op, const char *method, const char *path, const char *body)
{
    gs_buf h;
    gs_buf_init(&h, 0);
    gs_upstream_head(op->pool, &h, method, path);
    gs_buf_puts(&h, "User-Agent: ggswap\r\n");
    if (op->auth)
        gs_buf_printf(&h, "Authorization: Bearer %s\r\n", op->auth);
    size_t blen = body ? strlen(body) : 0;
    if (body)
        gs_buf_printf(&h, "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    gs_buf_puts(&h, "\r\n");
    gs_buf_reset(&op->answer);
    op->status = 0;
    op->up = gs_upstream_send(op->pool, h.data, h.len, body, blen, &op_cbs, op);
    gs_buf_free(&h);
}

static void send_next(gs_slotcache_op *op)
{
    if (op->next >= op->nids) {
        op_end(op, true);
        return;
    }
    int id = op->ids[op->next];
    char path[96], body[128];
    snprintf(path, sizeof path, "/slots/%d?action=%s", id, op->save ? "save" : "restore");
    snprintf(body, sizeof body, "{\"filename\":\"slot%d.bin%s\"}", id, op->save ? ".part" : "");
    send_req(op, "POST", path, body);
}

static const char *answer_message(gs_slotcache_op *op, char *out, size_t cap)
{
    json_t *o = json_loadb(op->answer.data ? op->answer.data : "", op->answer.len, 0, NULL);
    json_t *e = json_object_get(o, "error");
    json_t *m = json_is_object(e) ? json_object_get(e, "message") : NULL;
    if (json_is_string(m))
        snprintf(out, cap, "%s", json_string_value(m));
    else
        snprintf(out, cap, "HTTP %d", op->status);
    json_decref(o);
    return out;
}

static uint64_t answer_int(gs_slotcache_op *op, const char *key)
{
    json_t *o = json_loadb(op->answer.data ? op->answer.data : "", op->answer.len, 0, NULL);
    json_t *v = json_object_get(o, key);
    uint64_t n = json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
    json_decref(o);
    return n;
}

/* The slot files of the folder that the running server has slots for. */
static void list_files(gs_slotcache_op *op, int nslots)
{
    DIR *d = opendir(op->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && op->nids < MAX_SLOTS) {
        bool part;
        int id = slot_file_id(e->d_name, &part);
        if (id < 0 || part)
            continue;
        if (id >= nslots) {
            gs_info("model %s: saved slot %d skipped: the server has %d slots", op->model, id,
                    nslots);
            continue;
        }
        op->ids[op->nids++] = id;
    }
    closedir(d);
}

static void one_done(gs_slotcache_op *op, int err, const char *msg)
{
    int id = op->ids[op->next];
    char fp[PATH_MAX], part[PATH_MAX], why[300];
    snprintf(fp, sizeof fp, "%s/slot%d.bin", op->dir, id);
    snprintf(part, sizeof part, "%s/slot%d.bin.part", op->dir, id);
    if (op->save) {
        if (!err && op->status == 200 && rename(part, fp) == 0) {
            op->ndone++;
            op->bytes += answer_int(op, "n_written");
        } else {
            unlink(part);
            gs_warn("model %s: slot %d not saved: %s", op->model, id,
                    err ? msg : answer_message(op, why, sizeof why));
        }
    } else if (!err && op->status == 200) {
        op->ndone++;
        op->bytes += answer_int(op, "n_read");
        utimensat(AT_FDCWD, fp, NULL, 0); /* used: last out of the LRU */
    } else if (!err && op->status >= 400 && op->status < 500) {
        /* Truncated, foreign or unreadable: it would fail every start; the model goes on. */
        gs_warn("model %s: saved slot file %s not restored (%s); removed it", op->model, fp,
                answer_message(op, why, sizeof why));
        unlink(fp);
    } else {
        gs_warn("model %s: slot %d not restored: %s", op->model, id,
                err ? msg : answer_message(op, why, sizeof why));
    }
    op->next++;
    send_next(op);
}

static void step(gs_slotcache_op *op, int err, const char *msg)
{
    if (op->phase == PH_OVER)
        return;
    if (op->phase == PH_EACH) {
        one_done(op, err, msg);
        return;
    }
    /* PH_LIST */
    if (err || op->status != 200) {
        char why[300];
        gs_warn("model %s: cannot list its slots (GET /slots: %s); %s", op->model,
                err ? msg : answer_message(op, why, sizeof why),
                op->save ? "nothing saved" : "nothing restored");
        op_end(op, true);
        return;
    }
    const char *txt = op->answer.data ? op->answer.data : "";
    if (op->save) {
        op->nids = gs_slotcache_busy_slots(txt, op->answer.len, op->ids, MAX_SLOTS);
    } else {
        int nslots = gs_slotcache_count_slots(txt, op->answer.len);
        op->nids = 0;
        if (nslots > 0)
            list_files(op, nslots);
    }
    if (op->nids < 0) {
        gs_warn("model %s: GET /slots did not answer a list of slots; nothing saved", op->model);
        op->nids = 0;
    }
    op->phase = PH_EACH;
    op->next = 0;
    send_next(op);
}

static void op_timeout(uv_timer_t *t)
{
    gs_slotcache_op *op = t->data;
    gs_warn("model %s: %s its slots took longer than %u ms; going on without the rest (%d done)",
            op->model, op->save ? "saving" : "restoring", op->timeout_ms, op->ndone);
    if (op->save && op->phase == PH_EACH && op->next < op->nids) {
        char part[PATH_MAX];
        snprintf(part, sizeof part, "%s/slot%d.bin.part", op->dir, op->ids[op->next]);
        unlink(part);
    }
    op_end(op, true);
}

static gs_slotcache_op *op_new(const gs_slotcache_args *a, bool save, gs_slotcache_cb cb, void *ud)
{
    gs_slotcache_op *op = gs_mem_calloc(1, sizeof *op);
    op->save = save;
    op->loop = a->loop;
    op->pool = a->pool;
    op->model = gs_mem_strdup(a->model ? a->model : "?");
    op->dir = gs_mem_strdup(a->dir);
    op->root = a->root ? gs_mem_strdup(a->root) : NULL;
    op->auth = a->api_key ? gs_mem_strdup(a->api_key) : NULL;
    op->cap = a->cap;
    op->timeout_ms = a->timeout_ms ? a->timeout_ms : 5000;
    op->cb = cb;
    op->ud = ud;
    op->t0 = gs_clock_ns();
    gs_buf_init(&op->answer, MAX_ANSWER);
    uv_timer_init(a->loop, &op->timer);
    op->timer.data = op;
    uv_timer_start(&op->timer, op_timeout, op->timeout_ms, 0);
    send_req(op, "GET", "/slots", NULL);
    return op;
}

gs_slotcache_op *gs_slotcache_save(const gs_slotcache_args *a, gs_slotcache_cb cb, void *ud)
{
    return op_new(a, true, cb, ud);
}

gs_slotcache_op *gs_slotcache_restore(const gs_slotcache_args *a, gs_slotcache_cb cb, void *ud)
{
    return op_new(a, false, cb, ud);
}

void gs_slotcache_cancel(gs_slotcache_op *op)
{
    if (op)
        op_end(op, false);
}

/* ---- a model's cache, hooked into its process ---- */

typedef struct attached {
    char *dir;
    char *root;
    uint64_t cap;
    unsigned timeout_ms;
    bool ready;              /* the folder was made for this start */
    char *extra[3];          /* --slot-save-path DIR, when the cmd lacks it */
    bool add_flag;
    gs_slotcache_op *op;
} attached;

static void hook_start(gs_proc *p, void *ud)
{
    attached *a = ud;
    char *key = gs_slotcache_key(p->cfg->argv, p->cfg->argc);
    int rc = gs_slotcache_prepare(a->dir, key);
    free(key);
    a->ready = rc == 0;
    if (rc < 0)
        gs_warn("model %s: slot cache folder %s cannot be used (%s); starting without the cache",
                p->id, a->dir, strerror(-rc));
    /* Without the folder llama-server would refuse the flag and not start. */
    p->extra_argv = a->add_flag && a->ready ? a->extra : NULL;
}

static void op_done(int n, void *ud)
{
    gs_proc *p = ud;
    attached *a = p->hooks_ud;
    a->op = NULL;
    gs_proc_hook_done(p);
}

static bool has_slot_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool any = false;
    struct dirent *e;
    while (!any && (e = readdir(d))) {
        bool part;
        any = slot_file_id(e->d_name, &part) >= 0 && !part;
    }
    closedir(d);
    return any;
}

static gs_slotcache_op *hook_op(gs_proc *p, attached *a, bool save)
{
    static const char *const key_names[] = {"--api-key", NULL, NULL};
    gs_slotcache_args args = {
        .loop = p->loop,
        .pool = p->pool,
        .model = p->id,
        .dir = a->dir,
        .root = a->root,
        .cap = a->cap,
        .timeout_ms = a->timeout_ms,
        .api_key = gs_slotcache_argv_value(p->cfg->argv, p->cfg->argc, key_names),
    };
    return save ? gs_slotcache_save(&args, op_done, p) : gs_slotcache_restore(&args, op_done, p);
}

static bool hook_ready(gs_proc *p, void *ud)
{
    attached *a = ud;
    if (!a->ready || a->op || !has_slot_files(a->dir))
        return false; /* nothing to restore: no request to make before READY */
    a->op = hook_op(p, a, false);
    return true;
}

static bool hook_stop(gs_proc *p, void *ud)
{
    attached *a = ud;
    if (!a->ready || a->op)
        return false;
    a->op = hook_op(p, a, true);
    return true;
}

static void hook_abandon(gs_proc *p, void *ud)
{
    attached *a = ud;
    gs_slotcache_cancel(a->op);
    a->op = NULL;
}

static void hook_release(gs_proc *p, void *ud)
{
    attached *a = ud;
    gs_slotcache_cancel(a->op);
    if (p->extra_argv == a->extra)
        p->extra_argv = NULL;
    free(a->dir);
    free(a->root);
    free(a);
}

static const gs_proc_hooks slot_hooks = {hook_start, hook_ready, hook_stop, hook_abandon,
                                         hook_release};

int gs_slotcache_attach(gs_proc *p, const char *root, uint64_t cap, unsigned timeout_ms)
{
    const gs_model_cfg *c = p->cfg;
    const char *own = gs_slotcache_argv_dir(c->argv, c->argc);
    if (!own && (!gs_slotcache_is_llama_server(c->argv, c->argc) || !root)) {
        /* The same words for each of a thousand models would bury the log (and slow the start):
         * the first few at info, the rest at debug. */
        static unsigned said;
        gs_log_level lv = said < 5 ? GS_LOG_INFO : GS_LOG_DEBUG;
        gs_log_msg(lv, "model %s: no slot cache: its cmd does not run llama-server itself; add "
                   "--slot-save-path DIR to it to have one%s", p->id,
                   ++said == 5 ? " (further models like this are logged at debug level)" : "");
        return -ENOTSUP;
    }
    if (p->hooks && p->hooks->release)
        p->hooks->release(p, p->hooks_ud);
    attached *a = gs_mem_calloc(1, sizeof *a);
    if (own) {
        a->dir = gs_mem_strdup(own);
    } else {
        char *name = gs_slotcache_dir_name(p->id);
        a->dir = gs_mem_printf("%s/%s", root, name);
        free(name);
        a->add_flag = true;
        a->extra[0] = "--slot-save-path";
        a->extra[1] = a->dir;
    }
    a->root = root ? gs_mem_strdup(root) : NULL;
    a->cap = cap;
    a->timeout_ms = timeout_ms;
    p->hooks = &slot_hooks;
    p->hooks_ud = a;
    return 0;
}

void gs_slotcache_configure(gs_proc *p, const gs_config *cfg, const char *home)
{
    if (p->in_hook)
        return;
    bool ours = p->hooks == &slot_hooks;
    if (!p->cfg->slot_cache) {
        if (ours) {
            p->hooks->release(p, p->hooks_ud);
            p->hooks = NULL;
            p->hooks_ud = NULL;
        }
        return;
    }
    if (p->hooks && !ours)
        return; /* someone else's hooks: leave them */
    char *root = cfg->slot_cache.path ? gs_mem_strdup(cfg->slot_cache.path)
                 : home                ? gs_mem_printf("%s/slots", home)
                                       : NULL;
    uint64_t cap = cfg->slot_cache.max_size > 0 ? (uint64_t)cfg->slot_cache.max_size : 0;
    unsigned ms = cfg->slot_cache.save_timeout_ms > 0 ? (unsigned)cfg->slot_cache.save_timeout_ms
                                                      : 5000;
    if (gs_slotcache_attach(p, root, cap, ms) < 0 && ours) {
        p->hooks->release(p, p->hooks_ud); /* attach left the old state alone */
        p->hooks = NULL;
        p->hooks_ud = NULL;
    }
    free(root);
}
