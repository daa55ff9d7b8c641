#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pullapi.h"
#include "watch.h"

/* When a folder change is applied: only once the listing stayed the same for one look. */
static const struct {
    const char *applied, *prev, *now;
    gs_watch_action want;
} cases[] = {
    {"a\t1\t1\n", NULL, "a\t1\t1\n", GS_WATCH_NOTHING},          /* an event, nothing changed */
    {"a\t1\t1\n", "b\t5\t2\n", "a\t1\t1\n", GS_WATCH_NOTHING},   /* changed back */
    {"", NULL, "b\t5\t2\n", GS_WATCH_WAIT},                      /* new: look once more */
    {"", "b\t5\t2\n", "b\t9\t3\n", GS_WATCH_WAIT},               /* still growing */
    {"", "b\t9\t3\n", "b\t9\t3\n", GS_WATCH_APPLY},              /* stable: apply */
    {"a\t1\t1\nb\t9\t3\n", NULL, "a\t1\t1\n", GS_WATCH_WAIT},    /* deleted */
    {"a\t1\t1\nb\t9\t3\n", "a\t1\t1\n", "a\t1\t1\n", GS_WATCH_APPLY},
    {NULL, NULL, "", GS_WATCH_WAIT},
};

Test(watch, decide)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(gs_watch_decide(cases[i].applied, cases[i].prev, cases[i].now),
                     cases[i].want, "case %zu", i);
}

Test(watch, listing)
{
    char dir[] = "/tmp/gs-watch-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char p[300];
    snprintf(p, sizeof p, "%s/sub", dir);
    mkdir(p, 0755);
    const char *names[] = {"b.gguf", "a.GGUF", "x.gguf.part", ".hidden.gguf", "notes.txt",
                           "sub/c.gguf"};
    for (size_t i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "w");
        fputs("1234", f);
        fclose(f);
    }
    char *dirs[] = {dir};
    char *l = gs_watch_listing(dirs, 1);
    /* .gguf only (any case), sorted, subfolders included; .part and hidden files never */
    char want[1000];
    int n = 0;
    const char *expect[] = {"a.GGUF", "b.gguf", "sub/c.gguf"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s\t4\t", dir, expect[i]);
        cr_expect(strstr(l, p), "%s lacks %s", l, p);
    }
    for (const char *c = l; *c; c++)
        n += *c == '\n';
    cr_expect_eq(n, 3, "%s", l);
    (void)want;
    free(l);
    for (size_t i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/sub", dir);
    rmdir(p);
    rmdir(dir);
}

Test(watch, need)
{
    cr_expect_eq(gs_pullapi_need(-1), -1);
    cr_expect_eq(gs_pullapi_need(0), 512LL << 20);
    cr_expect_eq(gs_pullapi_need(10000000000LL), 11000000000LL + (512LL << 20));
}

static int changes;
static void on_change(void *ud)
{
    changes++;
}

static void run_for(uv_loop_t *loop, int ms)
{
    for (int i = 0; i < ms; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

/* The listing that counts as applied is taken off the loop thread: an unchanged folder gives no
 * change (not even when looked at before that listing is in), a new file gives one. */
Test(watch, applied_listing_then_one_change)
{
    char dir[] = "/tmp/gs-watch-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/a.gguf", dir);
    snprintf(b, sizeof b, "%s/b.gguf", dir);
    FILE *f = fopen(a, "w");
    fputs("x", f);
    fclose(f);
    uv_loop_t loop;
    uv_loop_init(&loop);
    gs_watch *w = gs_watch_new(&loop, 20, on_change, NULL);
    char *dirs[] = {dir};
    gs_watch_set_dirs(w, dirs, 1);
    gs_watch_poke(w); /* a look that may come before the listing is in */
    run_for(&loop, 300);
    cr_expect_eq(changes, 0, "nothing changed");
    f = fopen(b, "w");
    fputs("yy", f);
    fclose(f);
    gs_watch_poke(w);
    for (int i = 0; i < 3000 && !changes; i++)
        run_for(&loop, 1);
    cr_expect_eq(changes, 1, "the new file is one change");
    gs_watch_free(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    unlink(a);
    unlink(b);
    rmdir(dir);
}

/* The server answers an apply by setting the same folders again (after its regenerate); a file
 * deleted right then must still be a change, not taken into a fresh "applied" listing. */
static gs_watch *race_w;
static char race_dir[32], race_b[64];
static int race_changes;

static void on_change_then_delete(void *ud)
{
    race_changes++;
    if (race_changes == 1) {
        unlink(race_b); /* gone before the server has set its folders again */
        char *dirs[] = {race_dir};
        gs_watch_set_dirs(race_w, dirs, 1);
    }
}

Test(watch, a_file_deleted_right_after_an_apply_is_a_change)
{
    snprintf(race_dir, sizeof race_dir, "/tmp/gs-watch-XXXXXX");
    cr_assert_not_null(mkdtemp(race_dir));
    snprintf(race_b, sizeof race_b, "%s/b.gguf", race_dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    race_w = gs_watch_new(&loop, 20, on_change_then_delete, NULL);
    char *dirs[] = {race_dir};
    gs_watch_set_dirs(race_w, dirs, 1);
    run_for(&loop, 100);
    FILE *f = fopen(race_b, "w");
    fputs("yy", f);
    fclose(f);
    gs_watch_poke(race_w);
    for (int i = 0; i < 3000 && race_changes < 1; i++)
        run_for(&loop, 1);
    cr_assert_eq(race_changes, 1, "the new file is a change");
    gs_watch_poke(race_w); /* the deletion's event */
    for (int i = 0; i < 3000 && race_changes < 2; i++)
        run_for(&loop, 1);
    cr_expect_eq(race_changes, 2, "the deleted file is a change too");
    gs_watch_free(race_w);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    rmdir(race_dir);
}
