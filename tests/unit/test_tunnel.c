/* The tunnel's pure parts: what counts as a WebSocket upgrade (llama-swap's token rules) and
 * the request head it sends to the model's server. */
#include <criterion/criterion.h>
#include <string.h>

#include "tunnel.h"

Test(tunnel, header_tokens_in_lists_any_case_trimmed)
{
    static const struct {
        const char *value, *token;
        bool has;
    } cases[] = {
        {"Upgrade", "upgrade", true},
        {"keep-alive, Upgrade", "upgrade", true},
        {"  upgrade  ,keep-alive", "upgrade", true},
        {"keep-alive,\tUPGRADE\t", "upgrade", true},
        {"upgrades", "upgrade", false},
        {"x-upgrade", "upgrade", false},
        {"keep-alive", "upgrade", false},
        {"", "upgrade", false},
        {",,,", "upgrade", false},
        {"websocket", "websocket", true},
        {"h2c, WebSocket", "websocket", true},
        {"websocket/13", "websocket", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(gs_tunnel_has_token(cases[i].value, cases[i].token), cases[i].has,
                     "'%s' has '%s'", cases[i].value, cases[i].token);
}

static gs_http_header hdr(const char *n, const char *v)
{
    return (gs_http_header){(char *)n, (char *)v, strlen(n), strlen(v)};
}

Test(tunnel, websocket_needs_both_connection_upgrade_and_upgrade_websocket)
{
    static const struct {
        const char *conn, *upg; /* NULL: header absent */
        const char *conn2;      /* a second Connection line */
        bool ws;
    } cases[] = {
        {"Upgrade", "websocket", NULL, true},
        {"keep-alive, upgrade", "WebSocket", NULL, true},
        {"keep-alive", "websocket", "Upgrade", true}, /* repeated header lines count */
        {"keep-alive", "websocket", NULL, false},
        {"Upgrade", "h2c", NULL, false},
        {NULL, "websocket", NULL, false},
        {"Upgrade", NULL, NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gs_http_header h[4];
        int n = 0;
        h[n++] = hdr("Host", "x");
        if (cases[i].conn)
            h[n++] = hdr("Connection", cases[i].conn);
        if (cases[i].upg)
            h[n++] = hdr("Upgrade", cases[i].upg);
        if (cases[i].conn2)
            h[n++] = hdr("connection", cases[i].conn2);
        gs_http_req req;
        memset(&req, 0, sizeof req);
        req.headers = h;
        req.nheaders = n;
        cr_assert_eq(gs_tunnel_is_websocket(&req), cases[i].ws, "case %zu", i);
    }
}

static char *head_of(gs_http_header *h, int n, const char *host, int port, const char *base,
                     const char *upath)
{
    gs_http_req req;
    memset(&req, 0, sizeof req);
    strcpy(req.method, "GET");
    req.headers = h;
    req.nheaders = n;
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_tunnel_head(&b, &req, host, port, base, upath);
    return gs_buf_steal(&b);
}

Test(tunnel, head_keeps_host_and_end_to_end_headers_drops_hop_by_hop)
{
    gs_http_header h[] = {
        hdr("Host", "localhost:8080"),        hdr("Connection", "keep-alive, Upgrade"),
        hdr("Upgrade", "websocket"),          hdr("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        hdr("Sec-WebSocket-Version", "13"),   hdr("Origin", "http://localhost:8080"),
        hdr("Keep-Alive", "timeout=5"),       hdr("Transfer-Encoding", "chunked"),
        hdr("Content-Length", "0"),           hdr("Cookie", "a=b"),
    };
    char *t = head_of(h, sizeof h / sizeof h[0], "127.0.0.1", 5800, "/base", "/ws?x=1");
    cr_assert_str_eq(t, "GET /base/ws?x=1 HTTP/1.1\r\n"
                        "Host: localhost:8080\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n"
                        "Origin: http://localhost:8080\r\n"
                        "Cookie: a=b\r\n"
                        "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    free(t);
}

Test(tunnel, head_without_host_names_the_server_and_paths_get_their_slash)
{
    gs_http_header h[] = {hdr("Upgrade", "websocket")};
    char *t = head_of(h, 1, "::1", 9000, "", "");
    cr_assert_str_eq(t, "GET / HTTP/1.1\r\nHost: [::1]:9000\r\n"
                        "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    free(t);
    t = head_of(h, 1, "127.0.0.1", 81, "", "?q=1");
    cr_assert_str_eq(t, "GET /?q=1 HTTP/1.1\r\nHost: 127.0.0.1:81\r\n"
                        "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    free(t);
}
