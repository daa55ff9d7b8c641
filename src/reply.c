#include "reply.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

void gs_reply_verror(gs_http_req *req, int status, const char *code, const char *fmt, va_list ap)
{
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    gs_buf_scrub_utf8(msg, strlen(msg));
    const char *type = status == 401   ? "authentication_error"
                       : status == 429 ? "rate_limit_error"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    json_t *o = json_pack("{s:{s:s, s:s, s:s}}", "error", "message", msg, "type", type, "code",
                          code ? code : "error");
    if (!o) /* the message was not valid UTF-8 */
        o = json_pack("{s:{s:s, s:s, s:s}}", "error", "message", "(unprintable error message)",
                      "type", type, "code", code ? code : "error");
    char *body = json_dumps(o, JSON_COMPACT);
    size_t len = strlen(body);
    body = gs_mem_realloc(body, len + 2);
    body[len++] = '\n';
    /* Basic makes a browser ask for the key (as the password), so the page works with apiKeys. */
    const char *extra = status == 401   ? "WWW-Authenticate: Basic realm=\"ggswap\"\r\n"
                        : status == 429 ? "Retry-After: 1\r\n"
                                        : NULL;
    gs_http_respond(req, status, "application/json", body, len, extra);
    free(body);
    json_decref(o);
}

void gs_reply_error(gs_http_req *req, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gs_reply_verror(req, status, code, fmt, ap);
    va_end(ap);
}
