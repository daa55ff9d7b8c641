/* api: the daemon's HTTP API: one route table (method, path or prefix, handler, whether the API
 * key is needed), the API-key check, and the JSON views of models and the service.
 *
 * gs_api_handle is the HTTP server's request callback. It looks the request up in the table
 * (first matching row wins; gs_api_route_find is pure, so the routing is tested in a table of
 * cases), asks for the key where the row says so, and calls the row's handler with what follows
 * a prefix. A feature adds its endpoints as rows; handlers may live in their own modules
 * (stats.c has /metrics and /api/requests). */
#ifndef GS_API_H
#define GS_API_H
#include <stdbool.h>

#include "http.h"

typedef struct gs_server gs_server;
struct json_t;

/* Methods a route accepts (a bit set). */
enum {
    GS_API_GET = 1 << 0,
    GS_API_POST = 1 << 1,
    GS_API_HEAD = 1 << 2,
    GS_API_OPTIONS = 1 << 3,
    GS_API_PUT = 1 << 4,
    GS_API_DELETE = 1 << 5,
    GS_API_PATCH = 1 << 6,
    GS_API_OTHER = 1 << 7,
    GS_API_ANY = 0xff,
};

/* rest: what follows the prefix for prefix rows, "" for exact rows. */
typedef void (*gs_api_handler)(gs_server *s, gs_http_req *req, const char *rest);

typedef struct gs_api_route {
    unsigned methods;
    const char *path;   /* exact path, or a prefix when prefix is set ("" matches every path) */
    bool prefix;
    gs_api_handler fn;
    bool auth;          /* needs an API key when the config has apiKeys */
} gs_api_route;

/* The first row matching method and path, or NULL (then: 404, key needed). *rest as above. */
const gs_api_route *gs_api_route_find(const char *method, const char *path, const char **rest);
/* The method's bit (GS_API_OTHER for anything unusual). */
unsigned gs_api_method_bit(const char *method);

/* The request handler (gs_http_req_cb; ud is the gs_server). */
void gs_api_handle(gs_http_req *req, void *ud);

/* OpenAI-shaped error response. */
void gs_api_error(gs_http_req *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Respond with o as JSON (the reference is consumed). */
void gs_api_respond_json(gs_http_req *req, int status, struct json_t *o);
void gs_api_respond_text(gs_http_req *req, int status, const char *text);
/* Does the request carry one of the config's API keys (Bearer, Basic password or x-api-key)? */
bool gs_api_authorized(gs_server *s, const gs_http_req *req);

/* JSON of a model for /api/service and events, and of the service (new references). */
struct json_t *gs_api_model_json(gs_server *s, int idx);
struct json_t *gs_api_service_json(gs_server *s);
/* "id, alias, ..." of every listed model, for "not found" messages (caller frees). */
char *gs_api_known_names(gs_server *s);

/* Answer the unload requests whose processes are all gone (the server calls it on every
 * process state change). */
void gs_api_unload_waits_check(gs_server *s);

#endif
