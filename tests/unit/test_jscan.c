/* The hot path's model scan: its verdict and its model agree with jansson's parse. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"

/* jansson's answer for the same body: -1 invalid, else 0 with *model (or NULL). */
static int jansson_model(const char *s, size_t n, char **model, bool *not_str)
{
    json_error_t e;
    json_t *root = json_loadb(s, n, 0, &e);
    *model = NULL;
    *not_str = false;
    if (!root)
        return -1;
    json_t *m = json_is_object(root) ? json_object_get(root, "model") : NULL;
    if (m && json_is_string(m))
        *model = strdup(json_string_value(m));
    else if (m)
        *not_str = true;
    json_decref(root);
    return 0;
}

static void agree(const char *s, size_t n)
{
    char *jm;
    bool jns;
    int jr = jansson_model(s, n, &jm, &jns);
    gs_jscan_result r;
    int rc = gs_jscan_model(s, n, &r);
    cr_expect_eq(rc == 0, jr == 0, "validity of [%.*s]: scan %d (%s), jansson %d", (int)n, s, rc,
                 r.error ? r.error : "-", jr);
    if (rc == 0 && jr == 0) {
        if (jm) {
            cr_expect(r.model && strcmp(r.model, jm) == 0, "model of [%.*s]: %s vs %s", (int)n, s,
                      r.model ? r.model : "(none)", jm);
        } else {
            cr_expect_null(r.model, "no model in [%.*s], got %s", (int)n, s, r.model);
        }
        cr_expect_eq(r.model_not_str, jns, "non-string model in [%.*s]", (int)n, s);
    }
    free(r.model);
    free(jm);
}

Test(jscan, agrees_with_jansson_on_a_table_of_bodies)
{
    static const char *const cases[] = {
        "{\"model\":\"a\"}",
        " \r\n\t{ \"model\" : \"llama3.2:1b-instruct\" , \"messages\":[{\"role\":\"user\"}]} \n",
        "{\"messages\":[{\"model\":\"inner\"}],\"model\":\"outer\"}",
        "{\"model\":\"first\",\"model\":\"last\"}",
        "{\"mod\\u0065l\":\"escaped key\"}",
        "{\"model\":\"caf\\u00e9 \\ud83d\\ude00 \\n\\t\\\"q\\\" \\/ \\\\\"}",
        "{\"model\":\"caf\xc3\xa9\"}",
        "{\"model\":42}",
        "{\"model\":null}",
        "{\"model\":{\"model\":\"x\"}}",
        "{\"x\":[1,-0,0.5,-1.25e+10,3E-2,true,false,null,{},[]]}",
        "[{\"model\":\"in an array\"}]",
        "{}",
        "[]",
        /* invalid */
        "",
        "   ",
        "\"model\"",
        "42",
        "null",
        "{\"model\":\"a\"",
        "{\"model\":\"a\"}}",
        "{\"model\":\"a\"} x",
        "{\"model\" \"a\"}",
        "{\"model\":\"a\",}",
        "{model:\"a\"}",
        "{'model':'a'}",
        "{\"a\":[1,2,]}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{\"a\":+1}",
        "{\"a\":tru}",
        "{\"a\":nulls}",
        "{\"model\":\"bad \\x escape\"}",
        "{\"model\":\"\\u12\"}",
        "{\"model\":\"\\ud800\"}",
        "{\"model\":\"\\udc00\"}",
        "{\"model\":\"\\ud800\\u0041\"}",
        "{\"model\":\"\\u0000\"}",
        "{\"model\":\"tab\there\"}",
        "{\"model\":\"\xc3\"}",
        "{\"model\":\"\xc0\xaf\"}",
        "{\"model\":\"\xed\xa0\x80\"}",
        "{\"model\":\"\xf4\x90\x80\x80\"}",
        "{\"model\":\"\xff\"}",
        "\xef\xbb\xbf{\"model\":\"bom\"}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        agree(cases[i], strlen(cases[i]));
    agree("{\"model\":\"a\0b\"}", 14); /* a raw NUL */
}

Test(jscan, nesting_is_bounded)
{
    size_t deep = GS_JSCAN_MAX_DEPTH + 10;
    char *s = malloc(deep * 2 + 1);
    memset(s, '[', deep);
    memset(s + deep, ']', deep);
    gs_jscan_result r;
    cr_assert_eq(gs_jscan_model(s, deep * 2, &r), -EINVAL);
    cr_assert_str_eq(r.error, "maximum nesting depth exceeded");
    cr_assert_eq(gs_jscan_model(s + 20, (deep - 20) * 2, &r), 0, "just under the bound is fine");
    free(s);
}

Test(jscan, errors_say_where)
{
    gs_jscan_result r;
    const char *s = "{\n  \"model\": \"a\",\n  \"x\": tru\n}";
    cr_assert_eq(gs_jscan_model(s, strlen(s), &r), -EINVAL);
    cr_assert_eq(r.line, 3);
    cr_assert_eq(r.column, 8);
    cr_assert_str_eq(r.error, "invalid token");
}

/* Mutations of a real request body: every one gets the same verdict as from jansson. */
Test(jscan, agrees_with_jansson_on_mutations)
{
    const char *base = "{\"model\":\"m\\u00e9\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"hi \\\"there\\\"\"}],\"temperature\":0.5,\"stream\":true,\"n\":null}";
    size_t n = strlen(base);
    char *s = malloc(n + 1);
    static const char subst[] = "{}[]\",:\\u0e-+. tfn\x80\xc3";
    unsigned seed = 12345;
    for (int k = 0; k < 20000; k++) {
        memcpy(s, base, n + 1);
        int edits = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 3;
        size_t len = n;
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 20) % 4 == 0 && len > 1) { /* delete */
                memmove(s + at, s + at + 1, len - at);
                len--;
            } else {
                s[at] = subst[(seed >> 9) % (sizeof subst - 1)];
            }
        }
        agree(s, len);
    }
    free(s);
}
