/* -config-dir: what the loader finds wrong after the merge is reported at the file and line
 * that hold the key, not at a line of the merged text. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confdir.h"
#include "mem.h"

static char g_dir[64];

static void put(const char *name, const char *text)
{
    char *p = gs_mem_printf("%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
    free(p);
}

static char *load_msgs(const char *base, int *rc)
{
    gs_diag d = {0};
    gs_config *c = NULL;
    char *b = base ? gs_mem_printf("%s/%s", g_dir, base) : NULL;
    char *dir = gs_mem_printf("%s/d", g_dir);
    *rc = gs_confdir_load(b, dir, &c, &d);
    char *all = gs_diag_join(&d);
    gs_diag_free(&d);
    if (c)
        gs_config_free(c);
    free(b);
    free(dir);
    return all;
}

static void setup(void)
{
    strcpy(g_dir, "/tmp/ggswap-confdir-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    char *d = gs_mem_printf("%s/d", g_dir);
    cr_assert_eq(mkdir(d, 0700), 0);
    free(d);
}

static void teardown(void)
{
    char *cmd = gs_mem_printf("rm -rf '%s'", g_dir);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
}

TestSuite(confdir, .init = setup, .fini = teardown);

Test(confdir, errors_after_the_merge_name_their_source_file_and_line)
{
    put("base.yaml", "models:\n  m:\n    cmd: x --port ${PORT}\n");
    put("d/10-a.yaml", "\n\nmodels:\n  a:\n    cmd: y --port ${PORT}\n    ttl: soon\n");
    put("d/20-b.yaml", "groups:\n  g:\n    members:\n      - m\n      - nobody\n");
    int rc;
    char *msgs = load_msgs("base.yaml", &rc);
    cr_assert_lt(rc, 0);
    static const struct {
        const char *file;
        int line;
        const char *what;
    } want[] = {
        {"d/10-a.yaml", 6, "error: models.a.ttl:"},
        /* as for one file: an item of a list is reported at the list's key */
        {"d/20-b.yaml", 3, "error: groups.g.members[1]: unknown model nobody"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *s = gs_mem_printf("%s/%s:%d: %s", g_dir, want[i].file, want[i].line, want[i].what);
        cr_assert_not_null(strstr(msgs, s), "want '%s' in:\n%s", s, msgs);
        free(s);
    }
    cr_assert_null(strstr(msgs, "(merged)"), "%s", msgs);
    free(msgs);
}

Test(confdir, a_good_split_config_loads_and_says_nothing)
{
    put("d/a.yaml", "models:\n  a:\n    cmd: y --port ${PORT}\n");
    put("d/b.yaml", "models:\n  b:\n    cmd: z --port ${PORT}\n");
    int rc;
    char *msgs = load_msgs(NULL, &rc);
    cr_assert_eq(rc, 0, "%s", msgs);
    cr_assert_str_eq(msgs, "");
    free(msgs);
}
