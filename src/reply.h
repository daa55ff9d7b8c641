/* reply: the OpenAI-shaped error answer, {"error":{"message","type","code"}}.
 *
 * Every module that answers a client with an error (routes, the scheduler, the forwarder) uses
 * this one function, so the shape, the type derived from the status and the extra headers
 * (401 asks for credentials, 429 says when to retry) are the same everywhere. */
#ifndef GS_REPLY_H
#define GS_REPLY_H
#include <stdarg.h>

#include "http.h"

/* Answer req with status and an error body; code is the machine-readable code
 * ("model_not_found"), the message is printf-formatted and scrubbed to UTF-8. */
void gs_reply_error(gs_http_req *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gs_reply_verror(gs_http_req *req, int status, const char *code, const char *fmt,
                     va_list ap) __attribute__((format(printf, 4, 0)));

#endif
