/* GET /v1/models in llama-swap's shape (listing.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"
#include "helpers.h"
#include "listing.h"

static json_t *build(gs_config *c, const unsigned char *st)
{
    gs_listing_in in = {.cfg = c, .state = st, .created = 1700000000};
    json_t *o = gs_listing_build(&in);
    cr_assert_not_null(o);
    cr_assert_str_eq(json_string_value(json_object_get(o, "object")), "list");
    return o;
}

static char *ids(json_t *o)
{
    json_t *data = json_object_get(o, "data"), *v;
    size_t i;
    static char buf[512];
    buf[0] = 0;
    json_array_foreach(data, i, v) {
        strcat(buf, i ? "," : "");
        strcat(buf, json_string_value(json_object_get(v, "id")));
    }
    return buf;
}

static json_t *rec(json_t *o, const char *id)
{
    json_t *data = json_object_get(o, "data"), *v;
    size_t i;
    json_array_foreach(data, i, v) if (!strcmp(json_string_value(json_object_get(v, "id")), id))
        return v;
    cr_assert_fail("no record %s", id);
    return NULL;
}

static const char *M = "models:\n"
                       "  zeta: {cmd: \"x --port ${PORT}\", aliases: [gpt-4]}\n"
                       "  alpha:\n"
                       "    cmd: \"x --port ${PORT}\"\n"
                       "    name: Alpha\n"
                       "    metadata: {foo: bar, n: 3, context_length: 1}\n"
                       "    capabilities: {in: [text, image], out: [text], tools: true, context: 8192}\n"
                       "  hidden: {cmd: \"x --port ${PORT}\", unlisted: true}\n";

Test(listing, sorted_aliases_off_by_default_unlisted_left_out)
{
    gs_config *c = test_config(M);
    json_t *o = build(c, NULL);
    cr_expect_str_eq(ids(o), "alpha,zeta");
    json_t *z = rec(o, "zeta");
    cr_expect_str_eq(json_string_value(json_object_get(z, "object")), "model");
    cr_expect_eq(json_integer_value(json_object_get(z, "created")), 1700000000);
    json_t *ls = json_object_get(json_object_get(z, "meta"), "llamaswap");
    cr_expect_str_eq(json_string_value(json_object_get(ls, "type")), "model");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(ls, "aliases"), 0)), "gpt-4");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(z, "status"), "value")),
                     "unloaded");
    json_decref(o);
    gs_config_free(c);
}

Test(listing, metadata_and_capabilities)
{
    gs_config *c = test_config(M);
    unsigned char st[3] = {0};
    st[gs_config_find(c, "alpha")] = 2;
    json_t *o = build(c, st);
    json_t *a = rec(o, "alpha");
    cr_expect_str_eq(json_string_value(json_object_get(a, "name")), "Alpha");
    cr_expect_eq(json_integer_value(json_object_get(a, "context_length")), 8192);
    json_t *meta = json_object_get(a, "meta");
    cr_expect_eq(json_integer_value(json_object_get(meta, "n_ctx")), 8192);
    json_t *ls = json_object_get(meta, "llamaswap");
    cr_expect_str_eq(json_string_value(json_object_get(ls, "foo")), "bar");
    cr_expect_eq(json_integer_value(json_object_get(ls, "n")), 3);
    cr_expect_null(json_object_get(ls, "context_length"), "capabilities' keys win");
    json_t *arch = json_object_get(a, "architecture");
    cr_expect_str_eq(json_string_value(json_object_get(arch, "modality")), "text+image->text");
    json_t *caps = json_object_get(a, "capabilities");
    cr_expect(json_is_true(json_object_get(caps, "vision")));
    cr_expect(json_is_true(json_object_get(caps, "function_calling")));
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(a, "supported_parameters"), 1)),
                     "tool_choice");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(a, "status"), "value")),
                     "loaded");
    cr_expect_null(json_object_get(rec(o, "zeta"), "context_length"));
    json_decref(o);
    gs_config_free(c);
}

Test(listing, aliases_peers_selectors)
{
    const char *y = "includeAliasesInList: true\n"
                    "models:\n"
                    "  m: {cmd: \"x --port ${PORT}\", aliases: [b-alias]}\n"
                    "peers:\n"
                    "  remote: {proxy: \"http://127.0.0.1:9\", models: [x, a/y]}\n"
                    "selectors:\n"
                    "  coder: {strategy: pin, targets: [m, remote/x]}\n";
    gs_config *c = test_config(y);
    json_t *o = build(c, NULL);
    cr_expect_str_eq(ids(o), "b-alias,coder,m,remote/a/y,remote/x");
    json_t *al = json_object_get(json_object_get(rec(o, "b-alias"), "meta"), "llamaswap");
    cr_expect_str_eq(json_string_value(json_object_get(al, "type")), "alias");
    cr_expect_str_eq(json_string_value(json_object_get(al, "modelID")), "m");
    json_t *p = rec(o, "remote/x");
    cr_expect_str_eq(json_string_value(json_object_get(p, "name")), "remote: x");
    json_t *pl = json_object_get(json_object_get(p, "meta"), "llamaswap");
    cr_expect_str_eq(json_string_value(json_object_get(pl, "type")), "peer");
    cr_expect_str_eq(json_string_value(json_object_get(pl, "peerID")), "remote");
    json_t *sl = json_object_get(json_object_get(rec(o, "coder"), "meta"), "llamaswap");
    cr_expect_str_eq(json_string_value(json_object_get(sl, "type")), "selector");
    cr_expect_str_eq(json_string_value(json_object_get(sl, "strategy")), "pin");
    cr_expect_eq(json_array_size(json_object_get(sl, "targets")), 2);
    json_decref(o);
    gs_config_free(c);
}
