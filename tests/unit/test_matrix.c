/* The swap matrix: DSL errors, and what the solver evicts (tables of cases). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "matrix.h"

#define GS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Models a..h are indexes 0..7; "L" is a var for model "l" (index 8), as `vars:` would give. */
static const char *models[] = {"a", "b", "c", "d", "e", "f", "g", "h", "l"};
#define NM 9

static int resolve(const char *id, void *ud)
{
    (void)ud;
    if (strcmp(id, "L") == 0)
        return 8;
    for (int i = 0; i < NM; i++)
        if (strcmp(models[i], id) == 0)
            return i;
    return -1;
}

static int mi(char c)
{
    return c == 'l' ? 8 : c - 'a';
}

/* sets: "name=dsl;name=dsl" */
static gs_matrix *compile(const char *spec, char *err, size_t errlen, int *bad)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    gs_matrix_set_def defs[16];
    int n = 0;
    for (char *save = NULL, *p = strtok_r(buf, ";", &save); p && n < 16;
         p = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(p, '=');
        cr_assert(eq, "bad spec %s", p);
        *eq = 0;
        defs[n++] = (gs_matrix_set_def){.name = p, .dsl = eq + 1};
    }
    gs_matrix *m = NULL;
    int rc = gs_matrix_compile(defs, n, NM, resolve, NULL, &m, bad, err, errlen);
    if (rc < 0)
        cr_assert_null(m);
    return m;
}

typedef struct solve_case {
    const char *sets;
    char target;
    const char *running;
    const char *costs;   /* "b3c2": b costs 3, c costs 2 */
    const char *evict;   /* exactly these go, in model order */
    const char *set;     /* chosen set, NULL when none */
} solve_case;

static const solve_case solve_cases[] = {
    /* Nothing runs: nothing to evict; the first set holding the target is used. */
    {"s1=a & b", 'a', "", NULL, "", "s1"},
    /* A set allows every subset of a combination. */
    {"s1=a & b & c", 'a', "b", NULL, "", "s1"},
    {"s1=a & b & c", 'a', "bc", NULL, "", "s1"},
    {"s1=a & b", 'a', "bc", NULL, "c", "s1"},
    /* Alternatives: keep the combination that evicts least. */
    {"s1=a & (b | c)", 'a', "c", NULL, "", "s1"},
    {"s1=a & (b | c)", 'a', "bc", NULL, "c", "s1"},
    /* Ties go to the earlier set. */
    {"s1=a & b;s2=a & c", 'a', "bc", NULL, "c", "s1"},
    {"s1=a & c;s2=a & b", 'a', "bc", NULL, "b", "s1"},
    /* Costs decide between sets. */
    {"s1=a & b;s2=a & c", 'a', "bc", "c5", "b", "s2"},
    {"s1=a & b;s2=a & c", 'a', "bc", "b2c2", "c", "s1"},
    {"s1=a & (b | c & d)", 'a', "bcd", NULL, "b", "s1"},
    {"s1=a & (b | c & d)", 'a', "bcd", "b3", "cd", "s1"},
    /* A model in no set runs alone; a target in no set evicts everything. */
    {"s1=a & b", 'e', "ab", NULL, "ab", NULL},
    {"s1=a & b", 'a', "e", NULL, "e", "s1"},
    /* A running target evicts nothing. */
    {"s1=a", 'a', "ab", NULL, "", NULL},
    /* Inlined sets; a set that inlines another comes after it in solving order. */
    {"big=+small & c;small=a & b", 'a', "bc", NULL, "", "big"},
    {"big=+small & c;small=a & b", 'a', "bd", NULL, "d", "small"},
    {"pair=(a | b) & c;all=+pair | d & e", 'd', "ce", NULL, "c", "all"},
    /* vars name models. */
    {"s1=L & a", 'l', "ab", NULL, "b", "s1"},
    /* Running models outside every set cost the same as others. */
    {"s1=a & b | a & c & d", 'a', "cdh", NULL, "h", "s1"},
    /* The black-box test's config (tests/js/llama-swap-routing.test.mjs), step by step. */
    {"pair=a & b;withc=c & (a | d);big=+pair & d", 'd', "ab", "d5", "", "big"},
    {"pair=a & b;withc=c & (a | d);big=+pair & d", 'c', "abd", "d5", "ab", "withc"},
    {"pair=a & b;withc=c & (a | d);big=+pair & d", 'c', "abd", NULL, "bd", "withc"},
    {"pair=a & b;withc=c & (a | d);big=+pair & d", 'b', "cd", "d5", "c", "big"},
    /* Several operators, many models. */
    {"s1=(a | b) & (c | d) & (e | f)", 'a', "bcdef", NULL, "bdf", "s1"},
    {"s1=(a | b) & (c | d) & (e | f)", 'a', "bcdef", "c9e9", "bdf", "s1"},
    {"s1=(a | b) & (c | d) & (e | f)", 'a', "bcdef", "d9f9", "bce", "s1"},
};

static void check_solve(const solve_case *tc)
{
    char err[256] = "";
    int bad;
    gs_matrix *m = compile(tc->sets, err, sizeof err, &bad);
    cr_assert_not_null(m, "%s: %s", tc->sets, err);
    bool running[NM] = {0}, evict[NM];
    int costs[NM];
    for (int i = 0; i < NM; i++)
        costs[i] = 1;
    for (const char *r = tc->running; *r; r++)
        running[mi(*r)] = true;
    for (const char *c = tc->costs; c && *c; c += 2)
        costs[mi(c[0])] = c[1] - '0';
    int set = gs_matrix_solve(m, mi(tc->target), running, costs, evict);
    char got[NM + 1];
    int n = 0;
    for (int i = 0; i < NM; i++)
        if (evict[i])
            got[n++] = i == 8 ? 'l' : (char)('a' + i);
    got[n] = 0;
    cr_expect_str_eq(got, tc->evict, "%s: want %c with [%s] running: evicted [%s], want [%s]",
                     tc->sets, tc->target, tc->running, got, tc->evict);
    const char *name = gs_matrix_set_name(m, set);
    if (tc->set)
        cr_expect(name && strcmp(name, tc->set) == 0, "%s: set %s, want %s", tc->sets,
                  name ? name : "(none)", tc->set);
    else
        cr_expect_null(name, "%s: set %s, want none", tc->sets, name);
    /* Whatever stays runs together with the target (when the target has to start). */
    int keep[NM + 1], nk = 0;
    keep[nk++] = mi(tc->target);
    for (int i = 0; i < NM; i++)
        if (running[i] && !evict[i] && i != mi(tc->target))
            keep[nk++] = i;
    if (nk > 1 && !running[mi(tc->target)])
        cr_expect(gs_matrix_together(m, keep, nk), "%s: what stays may not run together",
                  tc->sets);
    gs_matrix_free(m);
}

typedef struct err_case {
    const char *sets;
    int bad;            /* index of the set named in the error */
    const char *want;   /* substring of the message */
} err_case;

static const err_case err_cases[] = {
    {"s1=", 0, "set \"s1\": empty DSL expression"},
    {"s1=   ", 0, "empty DSL expression"},
    {"s1=a & x", 0, "set \"s1\": unknown var or model \"x\""},
    {"s1=a;s2=b & zz", 1, "set \"s2\": unknown var or model \"zz\""},
    {"s1=a & +nope", 0, "set \"s1\" references undefined set \"nope\""},
    {"s1=+s2;s2=+s1", 0, "circular reference detected involving set"},
    {"s1=+s1", 0, "circular reference detected involving set \"s1\""},
    {"s1=(a & b", 0, "missing closing parenthesis"},
    {"s1=a & b)", 0, "unexpected token \")\" after expression"},
    {"s1=a & & b", 0, "unexpected token \"&\""},
    {"s1=a b", 0, "unexpected token \"b\" after expression"},
    {"s1=a/b", 0, "unexpected character '/' at position 1"},
    {"s1=qwen:7b", 0, "unexpected character ':'"},
    {"s1=a & +", 0, "expected set name after '+'"},
    {"s1=|", 0, "unexpected token \"|\""},
    {"s1=()", 0, "unexpected token \")\""},
    {"s1=a;s1=b", 1, "set \"s1\" is defined twice"},
};

Test(matrix, solve)
{
    for (size_t i = 0; i < GS_ARRAY_SIZE(solve_cases); i++)
        check_solve(&solve_cases[i]);
}

static void check_error(const err_case *tc)
{
    char err[256] = "";
    int bad = -2;
    gs_matrix *m = compile(tc->sets, err, sizeof err, &bad);
    cr_assert_null(m, "%s compiled", tc->sets);
    cr_expect(strstr(err, tc->want), "%s: error '%s', want '%s'", tc->sets, err, tc->want);
    cr_expect_eq(bad, tc->bad, "%s: bad %d want %d", tc->sets, bad, tc->bad);
}

Test(matrix, errors)
{
    for (size_t i = 0; i < GS_ARRAY_SIZE(err_cases); i++)
        check_error(&err_cases[i]);
}

Test(matrix, no_sets_is_an_error)
{
    char err[128];
    int bad;
    gs_matrix *m = NULL;
    cr_assert_lt(gs_matrix_compile(NULL, 0, NM, resolve, NULL, &m, &bad, err, sizeof err), 0);
    cr_expect_str_eq(err, "matrix must define at least one set");
}

Test(matrix, deep_nesting_is_refused_not_a_crash)
{
    char dsl[4096];
    int n = 0;
    for (int i = 0; i < 1000; i++)
        dsl[n++] = '(';
    dsl[n++] = 'a';
    for (int i = 0; i < 1000; i++)
        dsl[n++] = ')';
    dsl[n] = 0;
    char err[128];
    cr_assert_lt(gs_matrix_parse_check(dsl, err, sizeof err), 0);
    cr_expect(strstr(err, "nested parentheses"), "%s", err);
    cr_expect_eq(gs_matrix_parse_check("((a)) & (b | (c & d))", err, sizeof err), 0, "%s", err);
}

Test(matrix, together)
{
    char err[128];
    int bad;
    gs_matrix *m = compile("s1=a & (b | c);s2=d & e", err, sizeof err, &bad);
    cr_assert_not_null(m, "%s", err);
    int ab[] = {0, 1}, bc[] = {1, 2}, ade[] = {0, 3, 4}, de[] = {3, 4}, ac[] = {0, 2};
    cr_expect(gs_matrix_together(m, ab, 2));
    cr_expect(gs_matrix_together(m, ac, 2));
    cr_expect_not(gs_matrix_together(m, bc, 2));
    cr_expect(gs_matrix_together(m, de, 2));
    cr_expect_not(gs_matrix_together(m, ade, 3));
    cr_expect(gs_matrix_together(m, ab, 1));
    cr_expect(gs_matrix_together(m, NULL, 0));
    gs_matrix_free(m);
}

Test(matrix, wide_choices_stay_cheap)
{
    /* 8 two-way choices spell 256 combinations; with three models running the solver keeps
     * only the few that differ in them. */
    char err[128];
    int bad;
    gs_matrix *m =
        compile("s=(a|b)&(c|d)&(e|f)&(g|h)&(a|c)&(b|d)&(e|g)&(f|h)", err, sizeof err, &bad);
    cr_assert_not_null(m, "%s", err);
    bool running[NM] = {0}, evict[NM];
    running[mi('c')] = running[mi('e')] = running[mi('h')] = true;
    cr_expect_eq(gs_matrix_solve(m, mi('a'), running, NULL, evict), 0);
    cr_expect_not(evict[mi('c')] || evict[mi('e')] || evict[mi('h')]);
    gs_matrix_free(m);
}
