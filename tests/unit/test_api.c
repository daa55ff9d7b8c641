/* The route table, as gs_api_route_find reads it: which row answers a method and path, what
 * follows a prefix, and which rows need the API key. */
#include <criterion/criterion.h>
#include <string.h>

#include "api.h"

typedef struct {
    const char *method, *path;
    const char *row;  /* the matching row's path; NULL: no route (404) */
    const char *rest; /* what the handler gets */
    bool auth;
} route_case;

static const route_case cases[] = {
    {"GET", "/health", "/health", "", false},
    {"POST", "/health", "/health", "", false},
    {"POST", "/v1/chat/completions", "/v1/chat/completions", "", true},
    {"GET", "/v1/chat/completions", "/v1/chat/completions", "", true},
    /* inference rows take GET and POST only: an OPTIONS preflight falls to the OPTIONS row */
    {"OPTIONS", "/v1/chat/completions", "", "/v1/chat/completions", true},
    {"HEAD", "/v1/chat/completions", NULL, "", true},
    {"PUT", "/v1/embeddings", NULL, "", true},
    {"POST", "/v1/messages/count_tokens", "/v1/messages/count_tokens", "", true},
    {"POST", "/apply-template", "/apply-template", "", true},
    {"DELETE", "/upstream/m/x", "/upstream/", "m/x", true},
    {"GET", "/upstream", NULL, "", true},
    {"GET", "/", "/", "", true},
    {"GET", "/ui", "/ui", "", true},
    {"GET", "/ui/app.js", "/ui/", "app.js", true},
    {"GET", "/v1/models", "/v1/models", "", true},
    {"OPTIONS", "/v1/models", "/v1/models", "", true},
    {"GET", "/models", "/models", "", true},
    {"GET", "/running", "/running", "", true},
    {"GET", "/unload", "/unload", "", true},
    {"POST", "/api/models/unload", "/api/models/unload", "", true},
    {"POST", "/api/models/unload/a%2Fb", "/api/models/unload/", "a%2Fb", true},
    {"GET", "/api/models/unload/a", NULL, "", true},
    {"POST", "/api/models/load/m", "/api/models/load/", "m", true},
    {"GET", "/api/models/load/m", NULL, "", true},
    {"GET", "/logs", "/logs", "", true},
    {"GET", "/logs/stream", "/logs/stream", "", true},
    {"GET", "/logs/stream/proxy", "/logs/stream/", "proxy", true},
    {"GET", "/api/events", "/api/events", "", true},
    {"GET", "/api/requests", "/api/requests", "", true},
    {"GET", "/metrics", "/metrics", "", true},
    {"GET", "/api/service", "/api/service", "", true},
    {"POST", "/api/service/restart", "/api/service/", "restart", true},
    {"GET", "/api/version", "/api/version", "", true},
    {"OPTIONS", "/nothing/here", "", "/nothing/here", true},
    {"GET", "/nothing/here", NULL, "", true},
    {"BREW", "/health", "/health", "", false},
    {"BREW", "/v1/completions", NULL, "", true},
};

Test(api, route_table)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const route_case *c = &cases[i];
        const char *rest = "unset";
        const gs_api_route *r = gs_api_route_find(c->method, c->path, &rest);
        if (!c->row) {
            cr_expect_null(r, "%s %s: expected no route, got %s", c->method, c->path,
                           r ? r->path : "");
            cr_expect_str_eq(rest, "", "%s %s", c->method, c->path);
            continue;
        }
        cr_assert_not_null(r, "%s %s: no route, expected %s", c->method, c->path, c->row);
        cr_expect_str_eq(r->path, c->row, "%s %s", c->method, c->path);
        cr_expect_str_eq(rest, c->rest, "%s %s", c->method, c->path);
        cr_expect_eq(r->auth, c->auth, "%s %s: auth", c->method, c->path);
    }
}

Test(api, method_bits)
{
    cr_expect_eq(gs_api_method_bit("GET"), GS_API_GET);
    cr_expect_eq(gs_api_method_bit("POST"), GS_API_POST);
    cr_expect_eq(gs_api_method_bit("OPTIONS"), GS_API_OPTIONS);
    cr_expect_eq(gs_api_method_bit("get"), GS_API_OTHER, "methods are case-sensitive");
    cr_expect_eq(gs_api_method_bit(""), GS_API_OTHER);
}
