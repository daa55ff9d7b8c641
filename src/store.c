#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

typedef enum gs_store_state {
    GS_STORE_IDLE = 0,  /* nothing being written */
    GS_STORE_WRITING,   /* a batch is out in the thread pool: the loop leaves db alone */
    GS_STORE_CLOSING,   /* closed while a batch was out: the batch's end closes */
    GS_STORE_CLOSED,
} gs_store_state;

struct gs_store {
    uv_loop_t *loop;
    char *path;
    sqlite3 *db;
    sqlite3_stmt *ins;
    sqlite3_stmt *prune;
    uint64_t max_rows;
    gs_store_state state;
    /* The queue: a ring of GS_STORE_MAX_PENDING, allocated on first use. */
    gs_request_log *pend;
    size_t head, npend;
    /* The batch in flight (owned by the worker while WRITING). */
    uv_work_t work;
    gs_request_log *batch;
    size_t nbatch;
    char err[256];      /* the worker's failure, "" when it wrote the batch */
    uint64_t dropped, failed;
    bool failing;       /* the last batch failed: warn once per run of failures */
};

static const char *state_name(gs_store_state st)
{
    switch (st) {
    case GS_STORE_IDLE: return "idle";
    case GS_STORE_WRITING: return "writing";
    case GS_STORE_CLOSING: return "closing";
    case GS_STORE_CLOSED: return "closed";
    }
    return "?";
}

static void set_state(gs_store *st, gs_store_state to)
{
    if (st->state == to)
        return;
    gs_debug("store %s: %s -> %s", st->path, state_name(st->state), state_name(to));
    st->state = to;
}

size_t gs_store_batch_size(size_t npending, bool writing, bool closed)
{
    if (writing || closed)
        return 0;
    return npending < GS_STORE_BATCH_MAX ? npending : GS_STORE_BATCH_MAX;
}

uint64_t gs_store_prune_below(uint64_t max_id, uint64_t max_rows)
{
    return max_id > max_rows ? max_id - max_rows : 0;
}

/* llama-swap's table (so a file it wrote can be named here); ggswap's columns come after. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS activity ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " ts_created INTEGER NOT NULL,"
    " model_id TEXT NOT NULL,"
    " req_path TEXT NOT NULL DEFAULT '',"
    " resp_content_type TEXT NOT NULL DEFAULT '',"
    " resp_status_code INTEGER NOT NULL DEFAULT 0,"
    " cache_tokens INTEGER NOT NULL DEFAULT 0,"
    " draft_tokens INTEGER NOT NULL DEFAULT 0,"
    " draft_acc_tokens INTEGER NOT NULL DEFAULT 0,"
    " input_tokens INTEGER NOT NULL DEFAULT 0,"
    " output_tokens INTEGER NOT NULL DEFAULT 0,"
    " prompt_per_second REAL NOT NULL DEFAULT 0,"
    " tokens_per_second REAL NOT NULL DEFAULT 0,"
    " duration_ms INTEGER NOT NULL DEFAULT 0,"
    " error_msg TEXT NOT NULL DEFAULT '',"
    " metadata_json TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS idx_activity_created_id ON activity (ts_created DESC, id DESC);";

/* ggswap's own columns: llama-swap's table lacks them, and its reader ignores extra ones. */
static const struct {
    const char *name, *decl;
} own_cols[] = {
    {"ts_ms", "INTEGER"},   {"method", "TEXT"},     {"queue_ms", "REAL"},
    {"load_ms", "REAL"},    {"ttft_ms", "REAL"},    {"duration_real_ms", "REAL"},
    {"tokens", "INTEGER"},
};

static int has_column(sqlite3 *db, const char *col)
{
    sqlite3_stmt *q = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('activity') WHERE name = ?", -1,
                           &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, col, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        found = 1;
    else if (rc != SQLITE_DONE)
        found = -1;
    sqlite3_finalize(q);
    return found;
}

static int add_own_columns(sqlite3 *db)
{
    for (size_t i = 0; i < GS_ARRAY_LEN(own_cols); i++) {
        int h = has_column(db, own_cols[i].name);
        if (h < 0)
            return -1;
        if (h)
            continue;
        char sql[160];
        snprintf(sql, sizeof sql, "ALTER TABLE activity ADD COLUMN %s %s", own_cols[i].name,
                 own_cols[i].decl);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            return -1;
    }
    return 0;
}

/* Page-level damage shows only when the damaged pages are read: look once, at open. */
static int check_intact(sqlite3 *db, char *why, size_t cap)
{
    sqlite3_stmt *q = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &q, NULL) != SQLITE_OK) {
        snprintf(why, cap, "%s", sqlite3_errmsg(db));
        return -1;
    }
    if (sqlite3_step(q) == SQLITE_ROW) {
        const char *res = (const char *)sqlite3_column_text(q, 0);
        if (res && strcmp(res, "ok") == 0)
            rc = 0;
        else
            snprintf(why, cap, "damaged (%s)", res ? res : "?");
    } else {
        snprintf(why, cap, "damaged (%s)", sqlite3_errmsg(db));
    }
    sqlite3_finalize(q);
    return rc;
}

static const char ins_sql[] =
    "INSERT OR REPLACE INTO activity (id, ts_created, model_id, req_path, resp_status_code,"
    " output_tokens, duration_ms, ts_ms, method, queue_ms, load_ms, ttft_ms, duration_real_ms,"
    " tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

static void free_store(gs_store *st)
{
    sqlite3_finalize(st->ins);
    sqlite3_finalize(st->prune);
    if (st->db)
        sqlite3_close(st->db);
    free(st->pend);
    free(st->batch);
    free(st->path);
    free(st);
}

int gs_store_open(uv_loop_t *loop, const char *path, int max_rows, gs_store **out, char **msg)
{
    *out = NULL;
    gs_store *st = gs_mem_calloc(1, sizeof *st);
    st->loop = loop;
    st->path = gs_mem_strdup(path);
    st->max_rows = max_rows > 0 ? (uint64_t)max_rows : GS_STORE_MAX_ROWS;
    char why[300] = "";
    const char *hint = "move it aside (ggswap then starts a new one) or point store.path "
                       "elsewhere";
    int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(why, sizeof why, "%s", st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        hint = "check the file and its folder can be written";
        goto out;
    }
    if (sqlite3_db_readonly(st->db, "main") == 1) {
        snprintf(why, sizeof why, "the file is read-only");
        hint = "make it writable by this user, or point store.path elsewhere";
        rc = SQLITE_READONLY;
        goto out;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* WAL, as llama-swap: readers (sqlite3 on the command line) never block the writes. */
    rc = sqlite3_exec(st->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", NULL,
                      NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(st->db));
        if (rc == SQLITE_READONLY || rc == SQLITE_CANTOPEN)
            hint = "its folder must be writable too (for the -wal file)";
        goto out;
    }
    rc = check_intact(st->db, why, sizeof why) < 0 ? SQLITE_CORRUPT : SQLITE_OK;
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_exec(st->db, schema, NULL, NULL, NULL);
    if (rc != SQLITE_OK || add_own_columns(st->db) < 0) {
        rc = rc != SQLITE_OK ? rc : SQLITE_ERROR;
        snprintf(why, sizeof why, "cannot set up its activity table: %s", sqlite3_errmsg(st->db));
        goto out;
    }
    rc = sqlite3_prepare_v2(st->db, ins_sql, -1, &st->ins, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db, "DELETE FROM activity WHERE id <= ?", -1, &st->prune,
                                NULL);
    if (rc != SQLITE_OK) {
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(st->db));
        goto out;
    }
out:
    if (rc != SQLITE_OK) {
        *msg = gs_mem_printf("store.path %s: not a usable activity store: %s; %s", path, why,
                             hint);
        free_store(st);
        return rc == SQLITE_READONLY || rc == SQLITE_CANTOPEN ? -EACCES : -EINVAL;
    }
    gs_info("activity store %s (at most %llu rows)", path, (unsigned long long)st->max_rows);
    *out = st;
    return 0;
}

static void read_row(sqlite3_stmt *q, gs_request_log *r)
{
    memset(r, 0, sizeof *r);
    r->id = (uint64_t)sqlite3_column_int64(q, 0);
    /* Rows that llama-swap wrote have only seconds and its own columns. */
    r->time_ms = sqlite3_column_type(q, 7) == SQLITE_NULL /* ggswap's rows all have ts_ms */
                     ? (uint64_t)sqlite3_column_int64(q, 1) * 1000
                     : (uint64_t)sqlite3_column_int64(q, 7);
    const char *s = (const char *)sqlite3_column_text(q, 2);
    snprintf(r->model, sizeof r->model, "%s", s ? s : "");
    s = (const char *)sqlite3_column_text(q, 3);
    snprintf(r->path, sizeof r->path, "%s", s ? s : "");
    r->status = sqlite3_column_int(q, 4);
    bool ours = sqlite3_column_type(q, 7) != SQLITE_NULL;
    if (!ours)
        r->tokens = sqlite3_column_int64(q, 5);
    else
        r->tokens = sqlite3_column_type(q, 13) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 13);
    r->duration_ms = sqlite3_column_double(q, ours ? 12 : 6);
    s = (const char *)sqlite3_column_text(q, 8);
    snprintf(r->method, sizeof r->method, "%s", s ? s : "");
    r->queue_ms = sqlite3_column_double(q, 9);
    r->load_ms = sqlite3_column_double(q, 10);
    r->ttft_ms = sqlite3_column_type(q, 11) == SQLITE_NULL ? -1 : sqlite3_column_double(q, 11);
}

int gs_store_load(gs_store *st, gs_request_log *out, int cap, uint64_t *max_id)
{
    sqlite3_stmt *q = NULL;
    int n = 0, rc;
    *max_id = 0;
    rc = sqlite3_prepare_v2(st->db, "SELECT COALESCE(MAX(id), 0) FROM activity", -1, &q, NULL);
    if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        *max_id = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    q = NULL;
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_prepare_v2(st->db,
                            "SELECT id, ts_created, model_id, req_path, resp_status_code,"
                            " output_tokens, duration_ms, ts_ms, method, queue_ms, load_ms,"
                            " ttft_ms, duration_real_ms, tokens"
                            " FROM activity ORDER BY id DESC LIMIT ?",
                            -1, &q, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_bind_int(q, 1, cap);
    while (n < cap && (rc = sqlite3_step(q)) == SQLITE_ROW)
        read_row(q, &out[n++]);
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto fail;
    for (int i = 0; i < n / 2; i++) { /* newest first from the query: the ring wants oldest */
        gs_request_log t = out[i];
        out[i] = out[n - 1 - i];
        out[n - 1 - i] = t;
    }
    return n;
fail:
    gs_warn("store %s: cannot read the stored activity: %s", st->path, sqlite3_errmsg(st->db));
    return -EIO;
}

/* ---- writing (thread pool) ---- */

static int bind_row(sqlite3_stmt *q, const gs_request_log *r)
{
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)r->id);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)(r->time_ms / 1000));
    sqlite3_bind_text(q, 3, r->model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, r->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 5, r->status);
    sqlite3_bind_int64(q, 6, r->tokens > 0 ? r->tokens : 0);
    sqlite3_bind_int64(q, 7, (sqlite3_int64)r->duration_ms);
    sqlite3_bind_int64(q, 8, (sqlite3_int64)r->time_ms);
    sqlite3_bind_text(q, 9, r->method, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(q, 10, r->queue_ms);
    sqlite3_bind_double(q, 11, r->load_ms);
    if (r->ttft_ms >= 0)
        sqlite3_bind_double(q, 12, r->ttft_ms);
    else
        sqlite3_bind_null(q, 12);
    sqlite3_bind_double(q, 13, r->duration_ms);
    if (r->tokens >= 0)
        sqlite3_bind_int64(q, 14, r->tokens);
    else
        sqlite3_bind_null(q, 14);
    return sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
}

/* One transaction: the rows, then what passed the cap. Any failure rolls the batch back. */
static void write_batch(gs_store *st, const gs_request_log *rows, size_t n)
{
    st->err[0] = 0;
    if (!n)
        return;
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (bind_row(st->ins, &rows[i]) < 0)
            goto fail;
    uint64_t cut = gs_store_prune_below(rows[n - 1].id, st->max_rows);
    if (cut) {
        sqlite3_reset(st->prune);
        sqlite3_bind_int64(st->prune, 1, (sqlite3_int64)cut);
        if (sqlite3_step(st->prune) != SQLITE_DONE)
            goto fail;
    }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return;
fail:
    snprintf(st->err, sizeof st->err, "%s", sqlite3_errmsg(st->db));
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

static void work_cb(uv_work_t *w)
{
    gs_store *st = w->data;
    write_batch(st, st->batch, st->nbatch);
}

static void take(gs_store *st, gs_request_log *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = st->pend[(st->head + i) % GS_STORE_MAX_PENDING];
    st->head = (st->head + n) % GS_STORE_MAX_PENDING;
    st->npend -= n;
}

static void batch_result(gs_store *st, size_t n)
{
    if (st->err[0]) {
        st->failed++;
        if (!st->failing)
            gs_warn("store %s: cannot write %zu activity records: %s (they stay in memory "
                    "only; is the disk full or the file gone read-only?)",
                    st->path, n, st->err);
        st->failing = true;
    } else if (st->failing) {
        gs_info("store %s: writing again", st->path);
        st->failing = false;
    }
}

/* Whatever is left, on the loop, at exit: a short wait beats losing the last requests. */
static void finish_close(gs_store *st)
{
    while (st->npend) {
        size_t n = st->npend < GS_STORE_BATCH_MAX ? st->npend : GS_STORE_BATCH_MAX;
        take(st, st->batch, n);
        write_batch(st, st->batch, n);
        batch_result(st, n);
    }
    set_state(st, GS_STORE_CLOSED);
    if (st->dropped)
        gs_warn("store %s: %llu activity records were dropped while the disk was behind",
                st->path, (unsigned long long)st->dropped);
    free_store(st);
}

static void kick(gs_store *st);

static void after_cb(uv_work_t *w, int status)
{
    gs_store *st = w->data;
    batch_result(st, st->nbatch);
    st->nbatch = 0;
    if (st->state == GS_STORE_CLOSING) {
        finish_close(st);
        return;
    }
    set_state(st, GS_STORE_IDLE);
    kick(st);
}

static void kick(gs_store *st)
{
    size_t n = gs_store_batch_size(st->npend, st->state == GS_STORE_WRITING,
                                   st->state >= GS_STORE_CLOSING);
    if (!n)
        return;
    take(st, st->batch, n);
    st->nbatch = n;
    st->work.data = st;
    set_state(st, GS_STORE_WRITING);
    int rc = uv_queue_work(st->loop, &st->work, work_cb, after_cb);
    if (rc < 0) { /* cannot happen with a live loop; write here rather than lose them */
        write_batch(st, st->batch, n);
        after_cb(&st->work, 0);
    }
}

void gs_store_add(gs_store *st, const gs_request_log *r)
{
    if (!st || st->state >= GS_STORE_CLOSING)
        return;
    if (!st->pend) {
        st->pend = gs_mem_calloc(GS_STORE_MAX_PENDING, sizeof *st->pend);
        st->batch = gs_mem_calloc(GS_STORE_BATCH_MAX, sizeof *st->batch);
    }
    if (st->npend == GS_STORE_MAX_PENDING) {
        if (st->dropped++ == 0)
            gs_warn("store %s: %d activity records wait to be written; dropping the oldest",
                    st->path, GS_STORE_MAX_PENDING);
        st->head = (st->head + 1) % GS_STORE_MAX_PENDING;
        st->npend--;
    }
    st->pend[(st->head + st->npend) % GS_STORE_MAX_PENDING] = *r;
    st->npend++;
    kick(st);
}

void gs_store_close(gs_store *st)
{
    if (!st)
        return;
    if (st->state == GS_STORE_WRITING) {
        set_state(st, GS_STORE_CLOSING); /* after_cb writes the rest and frees */
        return;
    }
    if (st->state == GS_STORE_IDLE) {
        if (!st->batch && st->npend == 0) {
            set_state(st, GS_STORE_CLOSED);
            free_store(st);
            return;
        }
        finish_close(st);
    }
}

const char *gs_store_path(const gs_store *st)
{
    return st->path;
}

uint64_t gs_store_dropped(const gs_store *st)
{
    return st->dropped;
}

uint64_t gs_store_failed(const gs_store *st)
{
    return st->failed;
}

bool gs_store_writing(const gs_store *st)
{
    return st->state == GS_STORE_WRITING;
}
