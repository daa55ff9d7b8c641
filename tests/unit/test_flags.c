/* Go's flag forms, as gs_flags_parse reads them, and the rewrite for the older parsers. */
#include <criterion/criterion.h>
#include <string.h>

#include "flags.h"
#include "strv.h"

enum { CONFIG, LISTEN, WATCH, DIRS, VERSION };
static const gs_flag_spec spec[] = {
    [CONFIG] = {"config", "c", GS_FLAG_VALUE, false, NULL},
    [LISTEN] = {"listen", NULL, GS_FLAG_VALUE, false, NULL},
    [WATCH] = {"watch-config", NULL, GS_FLAG_BOOL, false, NULL},
    [DIRS] = {"models-dir", NULL, GS_FLAG_VALUE, true, NULL},
    [VERSION] = {"version", "V", GS_FLAG_BOOL, false, NULL},
};

typedef struct {
    const char *argv[8];
    const char *config, *listen; /* expected values, NULL: not given */
    bool watch;
    int nargs;                   /* positional arguments */
    const char *err;             /* expected error (substring), NULL: success */
} flag_case;

static const flag_case cases[] = {
    {{"-config", "F", "-listen", "127.0.0.1:8091"}, "F", "127.0.0.1:8091", false, 0, NULL},
    {{"--config", "F", "--listen", ":8091"}, "F", ":8091", false, 0, NULL},
    {{"-config=F", "--listen=:1"}, "F", ":1", false, 0, NULL},
    {{"--config=F=G"}, "F=G", NULL, false, 0, NULL},
    {{"-config="}, "", NULL, false, 0, NULL},
    {{"-c", "F"}, "F", NULL, false, 0, NULL},
    {{"-config", "A", "-config", "B"}, "B", NULL, false, 0, NULL},
    {{"-config", "-listen"}, "-listen", NULL, false, 0, NULL}, /* Go takes the next word */
    {{"-watch-config", "-config", "F"}, "F", NULL, true, 0, NULL},
    {{"--watch-config=true"}, NULL, NULL, true, 0, NULL},
    {{"-watch-config=1"}, NULL, NULL, true, 0, NULL},
    {{"-watch-config=F"}, NULL, NULL, false, 0, NULL},
    {{"-watch-config", "-watch-config=false"}, NULL, NULL, false, 0, NULL},
    {{"-watch-config", "false"}, NULL, NULL, true, 1, NULL}, /* a switch takes no next word */
    {{"serve", "-config", "F", "x"}, "F", NULL, false, 2, NULL},
    {{"--", "-config", "F"}, NULL, NULL, false, 2, NULL},
    {{"-"}, NULL, NULL, false, 1, NULL},
    {{"-config"}, NULL, NULL, false, 0, "flag -config needs a value"},
    {{"-listen", "x", "-frob"}, NULL, NULL, false, 0, "unknown flag -frob"},
    {{"--frob=1"}, NULL, NULL, false, 0, "unknown flag -frob"},
    {{"-watch-config=maybe"}, NULL, NULL, false, 0, "is a switch"},
    {{"---config", "F"}, NULL, NULL, false, 0, "bad flag syntax"},
    {{"-=x"}, NULL, NULL, false, 0, "bad flag syntax"},
    {{"--"}, NULL, NULL, false, 0, NULL},
    {{"-conf\x01ig"}, NULL, NULL, false, 0, "unknown flag -conf?ig"},
};

Test(flags, go_forms)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const flag_case *c = &cases[i];
        int argc = 0;
        while (argc < 8 && c->argv[argc])
            argc++;
        gs_flags f;
        char err[200];
        int rc = gs_flags_parse(spec, 5, argc, (char **)c->argv, &f, err, sizeof err);
        if (c->err) {
            cr_expect_lt(rc, 0, "case %zu: expected an error", i);
            cr_expect(strstr(err, c->err) != NULL, "case %zu: error '%s', expected '%s'", i,
                      err, c->err);
        } else {
            cr_expect_eq(rc, 0, "case %zu: %s", i, err);
            const char *cfg = gs_flags_get(&f, CONFIG), *lst = gs_flags_get(&f, LISTEN);
            cr_expect(c->config ? cfg && strcmp(cfg, c->config) == 0 : !cfg,
                      "case %zu: config '%s'", i, cfg ? cfg : "(none)");
            cr_expect(c->listen ? lst && strcmp(lst, c->listen) == 0 : !lst,
                      "case %zu: listen '%s'", i, lst ? lst : "(none)");
            cr_expect_eq(gs_flags_on(&f, WATCH), c->watch, "case %zu: watch", i);
            cr_expect_eq(f.nargs, c->nargs, "case %zu: %d positional", i, f.nargs);
        }
        gs_flags_free(&f);
    }
}

Test(flags, repeated_values_are_all_kept)
{
    const char *argv[] = {"-models-dir", "A", "--models-dir=B", "-config", "C"};
    gs_flags f;
    char err[100];
    cr_assert_eq(gs_flags_parse(spec, 5, 5, (char **)argv, &f, err, sizeof err), 0);
    cr_assert_eq(f.nvals, 3);
    cr_expect_str_eq(f.vals[0].value, "A");
    cr_expect_str_eq(f.vals[1].value, "B");
    cr_expect_eq(f.vals[1].flag, DIRS);
    gs_flags_free(&f);
}

Test(flags, normalize_rewrites_only_known_long_names)
{
    const char *argv[] = {"-config", "F", "-listen=:1", "-V", "-other", "x", "--",
                          "-config"};
    char **n = gs_flags_normalize(spec, 5, 8, (char **)argv);
    const char *want[] = {"--config", "F", "--listen=:1", "-V", "-other", "x", "--", "-config"};
    for (int i = 0; i < 8; i++)
        cr_expect_str_eq(n[i], want[i], "word %d", i);
    cr_expect_null(n[8]);
    gs_strv_free(n);
}

Test(flags, go_bools)
{
    bool v;
    const char *yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    const char *no[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (int i = 0; i < 6; i++) {
        cr_expect(gs_flags_parse_bool(yes[i], &v) == 0 && v, "%s", yes[i]);
        cr_expect(gs_flags_parse_bool(no[i], &v) == 0 && !v, "%s", no[i]);
    }
    cr_expect_lt(gs_flags_parse_bool("yes", &v), 0);
    cr_expect_lt(gs_flags_parse_bool("", &v), 0);
}
