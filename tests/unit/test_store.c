/* The activity store: rows survive a close and reopen, writes go through the thread pool in
 * batches, the row cap drops the oldest, and files that are not a store are refused by name. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "stats.h"
#include "store.h"

static char *tmp_path(const char *name)
{
    char dir[] = "/tmp/gs-store-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *p = NULL;
    cr_assert_gt(asprintf(&p, "%s/%s", dir, name), 0);
    return p;
}

static gs_request_log row(uint64_t id, const char *model, int status)
{
    gs_request_log r;
    memset(&r, 0, sizeof r);
    r.id = id;
    r.time_ms = 1700000000000ull + id * 1000 + 123;
    snprintf(r.model, sizeof r.model, "%s", model);
    snprintf(r.method, sizeof r.method, "POST");
    snprintf(r.path, sizeof r.path, "/v1/chat/completions");
    r.status = status;
    r.duration_ms = 12.5 + (double)id;
    r.tokens = id % 2 ? (long)id * 10 : -1;
    r.queue_ms = 1.25;
    r.load_ms = id == 1 ? 300.5 : 0;
    r.ttft_ms = id % 3 ? -1 : 7.75;
    return r;
}

static gs_store *open_ok(uv_loop_t *loop, const char *path, int cap)
{
    gs_store *st = NULL;
    char *msg = NULL;
    int rc = gs_store_open(loop, path, cap, &st, &msg);
    cr_assert_eq(rc, 0, "open %s: %s", path, msg ? msg : "");
    cr_assert_not_null(st);
    return st;
}

Test(store, batch_size_table)
{
    static const struct {
        size_t pending;
        bool writing, closed;
        size_t want;
    } t[] = {
        {0, false, false, 0},
        {1, false, false, 1},
        {GS_STORE_BATCH_MAX - 1, false, false, GS_STORE_BATCH_MAX - 1},
        {GS_STORE_BATCH_MAX + 7, false, false, GS_STORE_BATCH_MAX},
        {5, true, false, 0},   /* one batch out at a time */
        {5, false, true, 0},   /* the close writes the rest itself */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        cr_assert_eq(gs_store_batch_size(t[i].pending, t[i].writing, t[i].closed), t[i].want,
                     "row %zu", i);
}

Test(store, prune_below_table)
{
    static const struct {
        uint64_t max_id, rows, want;
    } t[] = {{0, 10, 0}, {10, 10, 0}, {11, 10, 1}, {25, 10, 15}, {5, 0, 5}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        cr_assert_eq(gs_store_prune_below(t[i].max_id, t[i].rows), t[i].want, "row %zu", i);
}

Test(store, rows_survive_a_reopen_with_every_field)
{
    char *path = tmp_path("a.db");
    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_store *st = open_ok(&loop, path, 0);
    uint64_t max = 99;
    gs_request_log got[8];
    cr_assert_eq(gs_store_load(st, got, 8, &max), 0, "a new store is empty");
    cr_assert_eq(max, 0);
    for (uint64_t i = 1; i <= 5; i++) {
        gs_request_log r = row(i, i == 4 ? "b" : "a", i == 5 ? 502 : 200);
        gs_store_add(st, &r);
    }
    cr_assert(gs_store_writing(st), "the first record went to the thread pool at once");
    uv_run(&loop, UV_RUN_DEFAULT); /* the batches come back */
    cr_assert_not(gs_store_writing(st));
    gs_store_close(st);
    cr_assert_eq(uv_loop_close(&loop), 0);

    uv_loop_init(&loop);
    st = open_ok(&loop, path, 0);
    int n = gs_store_load(st, got, 8, &max);
    cr_assert_eq(n, 5);
    cr_assert_eq(max, 5);
    for (int i = 0; i < n; i++) {
        gs_request_log w = row((uint64_t)i + 1, i == 3 ? "b" : "a", i == 4 ? 502 : 200);
        cr_assert_eq(got[i].id, w.id, "oldest first");
        cr_assert_eq(got[i].time_ms, w.time_ms, "ms kept");
        cr_assert_str_eq(got[i].model, w.model);
        cr_assert_str_eq(got[i].method, "POST");
        cr_assert_str_eq(got[i].path, w.path);
        cr_assert_eq(got[i].status, w.status);
        cr_assert_float_eq(got[i].duration_ms, w.duration_ms, 1e-9);
        cr_assert_eq(got[i].tokens, w.tokens, "row %d tokens (unknown stays -1)", i);
        cr_assert_float_eq(got[i].queue_ms, w.queue_ms, 1e-9);
        cr_assert_float_eq(got[i].load_ms, w.load_ms, 1e-9);
        cr_assert_float_eq(got[i].ttft_ms, w.ttft_ms, 1e-9, "row %d ttft (none stays -1)", i);
    }
    cr_assert_eq(gs_store_load(st, got, 2, &max), 2, "the newest two");
    cr_assert_eq(got[0].id, 4);
    cr_assert_eq(got[1].id, 5);
    gs_store_close(st);
    cr_assert_eq(uv_loop_close(&loop), 0);
    free(path);
}

Test(store, the_row_cap_drops_the_oldest)
{
    char *path = tmp_path("cap.db");
    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_store *st = open_ok(&loop, path, 10);
    for (uint64_t i = 1; i <= 1000; i++) { /* more than one batch queues while one is out */
        gs_request_log r = row(i, "a", 200);
        gs_store_add(st, &r);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(gs_store_failed(st), 0);
    cr_assert_eq(gs_store_dropped(st), 0);
    gs_store_close(st);
    uv_loop_close(&loop);

    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT COUNT(*), MIN(id), MAX(id) FROM activity", -1, &q,
                                    NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(q, 0), 10, "only the cap is kept");
    cr_assert_eq(sqlite3_column_int(q, 1), 991, "the oldest went");
    cr_assert_eq(sqlite3_column_int(q, 2), 1000);
    sqlite3_finalize(q);
    sqlite3_close(db);
    free(path);
}

Test(store, close_while_a_batch_is_out_writes_everything)
{
    char *path = tmp_path("close.db");
    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_store *st = open_ok(&loop, path, 0);
    for (uint64_t i = 1; i <= 40; i++) {
        gs_request_log r = row(i, "a", 200);
        gs_store_add(st, &r);
    }
    cr_assert(gs_store_writing(st));
    gs_store_close(st); /* the batch in flight ends the close, with the 39 queued behind it */
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    uv_loop_init(&loop);
    st = open_ok(&loop, path, 0);
    gs_request_log got[64];
    uint64_t max = 0;
    cr_assert_eq(gs_store_load(st, got, 64, &max), 40);
    cr_assert_eq(max, 40);
    gs_store_close(st);
    uv_loop_close(&loop);
    free(path);
}

Test(store, a_file_llama_swap_wrote_is_read_and_extended)
{
    char *path = tmp_path("ls.db");
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    /* The table as llama-swap's migration creates it, with one row of its own. */
    const char *sql =
        "CREATE TABLE activity (id INTEGER PRIMARY KEY AUTOINCREMENT, ts_created INTEGER NOT NULL,"
        " model_id TEXT NOT NULL, req_path TEXT NOT NULL DEFAULT '', resp_content_type TEXT NOT"
        " NULL DEFAULT '', resp_status_code INTEGER NOT NULL DEFAULT 0, cache_tokens INTEGER NOT"
        " NULL DEFAULT 0, draft_tokens INTEGER NOT NULL DEFAULT 0, draft_acc_tokens INTEGER NOT"
        " NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT"
        " NULL DEFAULT 0, prompt_per_second REAL NOT NULL DEFAULT 0, tokens_per_second REAL NOT"
        " NULL DEFAULT 0, duration_ms INTEGER NOT NULL DEFAULT 0, error_msg TEXT NOT NULL"
        " DEFAULT '', metadata_json TEXT NOT NULL DEFAULT '');"
        "INSERT INTO activity (ts_created, model_id, req_path, resp_status_code, output_tokens,"
        " duration_ms) VALUES (1700000000, 'qwen', '/v1/chat/completions', 200, 42, 850);";
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_store *st = open_ok(&loop, path, 0);
    gs_request_log got[4];
    uint64_t max = 0;
    cr_assert_eq(gs_store_load(st, got, 4, &max), 1);
    cr_assert_eq(max, 1);
    cr_assert_str_eq(got[0].model, "qwen");
    cr_assert_eq(got[0].time_ms, 1700000000000ull, "its seconds, as ms");
    cr_assert_eq(got[0].tokens, 42);
    cr_assert_float_eq(got[0].duration_ms, 850, 1e-9);
    cr_assert_eq(got[0].ttft_ms, -1);
    gs_request_log r = row(2, "a", 200);
    gs_store_add(st, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(gs_store_failed(st), 0, "written into its table");
    gs_store_close(st);
    uv_loop_close(&loop);
    free(path);
}

static void refused(const char *path, const char *why)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_store *st = (gs_store *)1;
    char *msg = NULL;
    int rc = gs_store_open(&loop, path, 0, &st, &msg);
    cr_assert_lt(rc, 0, "%s is refused", path);
    cr_assert_null(st);
    cr_assert_not_null(msg);
    cr_assert_not_null(strstr(msg, path), "the message names the path: %s", msg);
    cr_assert_not_null(strstr(msg, why), "the message says why (%s): %s", why, msg);
    cr_assert_not_null(strstr(msg, "store.path"), "and which setting: %s", msg);
    free(msg);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(store, files_that_are_not_a_store_are_refused_by_name)
{
    char *path = tmp_path("junk.db");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 300; i++)
        fputs("this is not a database, it is a text file\n", f);
    fclose(f);
    refused(path, "not a database");

    /* A real store whose pages were damaged after it was written. */
    char *dmg = tmp_path("damaged.db");
    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_store *st = open_ok(&loop, dmg, 0);
    for (uint64_t i = 1; i <= 400; i++) {
        gs_request_log r = row(i, "a-model-with-a-rather-long-name-to-fill-pages", 200);
        gs_store_add(st, &r);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    gs_store_close(st);
    uv_loop_close(&loop);
    struct stat sb;
    cr_assert_eq(stat(dmg, &sb), 0);
    cr_assert_gt(sb.st_size, 4 * 4096, "several pages");
    f = fopen(dmg, "r+");
    cr_assert_not_null(f);
    fseek(f, 4096, SEEK_SET); /* every page but the first (the schema) */
    for (long i = 4096; i < sb.st_size; i++)
        fputc(0xA5, f);
    fclose(f);
    refused(dmg, "damaged");

    char *nodir = tmp_path("missing/x.db");
    refused(nodir, "unable to open");
    free(path);
    free(dmg);
    free(nodir);
}

static int count_rows(const char *path)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM activity", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    int n = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

Test(store, a_stalled_disk_fills_the_bounded_queue_then_drops_the_oldest)
{
    char *path = tmp_path("stall.db");
    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_store *st = open_ok(&loop, path, 0);
    /* Another writer holds the file: the first batch waits in the thread pool meanwhile. */
    sqlite3 *other;
    cr_assert_eq(sqlite3_open(path, &other), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    for (uint64_t i = 1; i <= 1 + GS_STORE_MAX_PENDING + 10; i++) {
        gs_request_log r = row(i, "a", 200);
        gs_store_add(st, &r); /* never blocks, whatever the disk does */
    }
    cr_assert(gs_store_writing(st));
    cr_assert_eq(gs_store_dropped(st), 10, "past the queue's bound the oldest queued go");
    cr_assert_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(gs_store_failed(st), 0, "the batch got the lock within the busy timeout");
    gs_store_close(st);
    uv_loop_close(&loop);
    cr_assert_eq(count_rows(path), 1 + GS_STORE_MAX_PENDING);
    free(path);
}

Test(store, a_failed_batch_is_counted_and_the_store_goes_on)
{
    char *path = tmp_path("fail.db");
    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_store *st = open_ok(&loop, path, 0);
    gs_request_log r = row(1, "a", 200);
    gs_store_add(st, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* Someone renames the table under it: the next batch fails and is rolled back. */
    sqlite3 *other;
    cr_assert_eq(sqlite3_open(path, &other), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(other, "ALTER TABLE activity RENAME TO gone", NULL, NULL, NULL),
                 SQLITE_OK);
    r = row(2, "a", 200);
    gs_store_add(st, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(gs_store_failed(st), 1);
    cr_assert_not(gs_store_writing(st), "idle again, not stuck");
    cr_assert_eq(sqlite3_exec(other, "ALTER TABLE gone RENAME TO activity", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(other);
    r = row(3, "a", 200);
    gs_store_add(st, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(gs_store_failed(st), 1, "writing again once the table is back");
    gs_store_close(st);
    uv_loop_close(&loop);
    cr_assert_eq(count_rows(path), 2, "rows 1 and 3");
    free(path);
}
