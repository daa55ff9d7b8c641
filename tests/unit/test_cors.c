/* Which origins may call the API from a browser (gs_cors_allowed), and the headers they get. */
#include <criterion/criterion.h>
#include <string.h>

#include "cors.h"

typedef struct {
    const char *origin;
    bool by_default;
} origin_case;

static const origin_case defaults[] = {
    {"http://localhost:5173", true},
    {"http://localhost", true},
    {"https://localhost:8443", true},
    {"http://127.0.0.1:3000", true},
    {"http://[::1]:8080", true},
    {"HTTP://LOCALHOST:1", true},
    {"null", true}, /* file:// pages */
    {"file://", true},
    {"app://clara", true},
    {"tauri://localhost", true},
    {"http://192.168.1.20:3000", false},
    {"https://evil.example", false},
    {"http://localhost.evil.example", false},
    {"http://localhost:80a", false},
    {"http://localhost:123456", false},
    {"http://127.0.0.1.nip.io", false},
    {"http://localhost:1\r\nX: y", false},
    {"ws://localhost:1", false},
    {"", false},
};

Test(cors, default_list)
{
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        cr_expect_eq(gs_cors_allowed(NULL, 0, defaults[i].origin), defaults[i].by_default, "%s",
                     defaults[i].origin);
    cr_expect_not(gs_cors_allowed(NULL, 0, NULL));
    char longo[400];
    memset(longo, 'a', sizeof longo);
    memcpy(longo, "http://", 7);
    longo[399] = 0;
    cr_expect_not(gs_cors_allowed(NULL, 0, longo), "over 256 bytes");
}

Test(cors, configured_list_replaces_the_default)
{
    char *narrow[] = {"https://app.example.org/", "app://"};
    cr_expect(gs_cors_allowed(narrow, 2, "https://app.example.org"));
    cr_expect(gs_cors_allowed(narrow, 2, "app://anything"));
    cr_expect_not(gs_cors_allowed(narrow, 2, "http://localhost:5173"), "narrowed");
    cr_expect_not(gs_cors_allowed(narrow, 2, "https://app.example.org.evil"));
    char *any[] = {"*"};
    cr_expect(gs_cors_allowed(any, 1, "https://anywhere.example"));
    cr_expect_not(gs_cors_allowed(any, 1, "bad origin"), "still a clean header value");
    cr_expect_not(gs_cors_allowed(narrow, 0, "http://localhost:1"), "an empty list allows none");
}

Test(cors, headers)
{
    char out[768];
    size_t n = gs_cors_preflight_headers("http://localhost:1", "authorization, x-stainless-os\r\nX: y",
                                         out, sizeof out);
    cr_assert_gt(n, 0);
    cr_expect(strstr(out, "Access-Control-Allow-Origin: http://localhost:1\r\n"));
    cr_expect(strstr(out, "Access-Control-Allow-Headers: authorization, x-stainless-osX y, "
                          "Authorization, Content-Type\r\n"), "%s", out);
    cr_expect(strstr(out, "Access-Control-Max-Age: "));
    cr_expect(strstr(out, "Access-Control-Allow-Methods: GET, POST"));
    cr_expect(strstr(out, "Access-Control-Expose-Headers: Server-Timing\r\n"));
    n = gs_cors_preflight_headers("http://localhost:1", NULL, out, sizeof out);
    cr_expect(strstr(out, "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"));
    cr_expect_eq(gs_cors_answer_headers("http://localhost:1", out, 10), 0, "does not fit");
}
