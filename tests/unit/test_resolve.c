/* What a requested name reaches: profile pins, selectors (pin, warm, spillover), models,
 * peers (resolve.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"
#include "helpers.h"
#include "resolve.h"

static const char *Y = "models:\n"
                       "  a: {cmd: \"x --port ${PORT}\", aliases: [al]}\n"
                       "  b: {cmd: \"x --port ${PORT}\"}\n"
                       "  c: {cmd: \"x --port ${PORT}\"}\n"
                       "groups:\n"
                       "  g: {swap: false, members: [a, b, c]}\n"
                       "peers:\n"
                       "  far: {proxy: \"http://127.0.0.1:9\", models: [x, b]}\n"
                       "selectors:\n"
                       "  p: {strategy: pin, targets: [b, a]}\n"
                       "  w: {strategy: warm, targets: [a, b, c]}\n"
                       "  s: {strategy: spillover, targets: [a, b], settings: {spillover: 2}}\n"
                       "profiles:\n"
                       "  night:\n"
                       "    pins: {a: c, gone: ~, coder: w}\n";

typedef struct rcase {
    const char *asked;
    const char *state; /* per model a b c: 0 stopped 1 starting 2 ready 3 stopping */
    const char *busy;  /* per model a b c */
    const char *profile;
    unsigned rr;
    const char *name;  /* NULL: not found */
    int model;         /* index a=0 b=1 c=2, -1 none */
    const char *peer;
} rcase;

static const rcase cases[] = {
    {"a", "000", "000", NULL, 0, "a", 0, NULL},
    {"al", "000", "000", NULL, 0, "al", 0, NULL},
    {"nope", "000", "000", NULL, 0, NULL, -1, NULL},
    /* peers: local names win; a bare name one peer lists reaches it */
    {"x", "000", "000", NULL, 0, "x", -1, "far"},
    {"far/x", "000", "000", NULL, 0, "far/x", -1, "far"},
    {"b", "000", "000", NULL, 0, "b", 1, NULL},
    {"far/b", "000", "000", NULL, 0, "far/b", -1, "far"},
    /* pin: the first target whatever runs */
    {"p", "220", "000", NULL, 0, "b", 1, NULL},
    /* warm: the first ready, else the first starting, else the first */
    {"w", "000", "000", NULL, 0, "a", 0, NULL},
    {"w", "012", "000", NULL, 0, "c", 2, NULL},
    {"w", "010", "000", NULL, 0, "b", 1, NULL},
    {"w", "320", "000", NULL, 0, "b", 1, NULL},
    /* spillover (2): the least busy active target below 2, else the first cold one */
    {"s", "000", "000", NULL, 0, "a", 0, NULL},
    {"s", "200", "100", NULL, 0, "a", 0, NULL},
    {"s", "200", "200", NULL, 0, "b", 1, NULL},
    {"s", "220", "210", NULL, 0, "b", 1, NULL},
    {"s", "220", "220", NULL, 0, "a", 0, NULL},
    {"s", "220", "220", NULL, 1, "b", 1, NULL},
    {"s", "220", "110", NULL, 1, "b", 1, NULL},
    {"s", "320", "000", NULL, 0, "b", 1, NULL},
    /* profiles: pins first, then the rest; a pin to nothing is not found */
    {"a", "000", "000", "night", 0, "c", 2, NULL},
    {"gone", "000", "000", "night", 0, NULL, -1, NULL},
    {"coder", "002", "000", "night", 0, "c", 2, NULL},
    {"b", "000", "000", "night", 0, "b", 1, NULL},
    {"coder", "000", "000", NULL, 0, NULL, -1, NULL},
};

Test(resolve, table)
{
    gs_config *c = test_config(Y);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const rcase *t = &cases[i];
        unsigned char st[3];
        int busy[3];
        for (int m = 0; m < 3; m++) {
            st[m] = (unsigned char)(t->state[m] - '0');
            busy[m] = t->busy[m] - '0';
        }
        /* models are sorted by id: a b c */
        gs_resolve_view v = {c, t->profile ? gs_config_find_profile(c, t->profile) : -1, st,
                             busy, t->rr};
        gs_resolved r;
        char err[256] = "";
        int rc = gs_resolve_name(&v, t->asked, &r, err, sizeof err);
        if (!t->name) {
            cr_expect_lt(rc, 0, "case %zu %s: found %s", i, t->asked, r.name);
            cr_expect(err[0], "case %zu: a reason", i);
            continue;
        }
        cr_expect_eq(rc, 0, "case %zu %s: %s", i, t->asked, err);
        cr_expect_str_eq(r.name, t->name, "case %zu %s", i, t->asked);
        cr_expect_eq(r.model, t->model, "case %zu %s: model %d", i, t->asked, r.model);
        if (t->peer)
            cr_expect(r.peer >= 0 && !strcmp(c->peers[r.peer].id, t->peer), "case %zu", i);
        else
            cr_expect_eq(r.peer, -1, "case %zu", i);
    }
    gs_config_free(c);
}
