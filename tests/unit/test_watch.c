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
