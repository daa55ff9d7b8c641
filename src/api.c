#include "api.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "cors.h"
#include "events.h"
#include "jscan.h"
#include "listing.h"
#include "log.h"
#include "peer.h"
#include "resolve.h"
#include "memory.h"
#include "mem.h"
#include "metrics.h"
#include "pullapi.h"
#include "reply.h"
#include "scheduler.h"
#include "server.h"
#include "stats.h"
#include "tunnel.h"
#include "timing.h"
#include "webui.h"

/* ---- responses ---- */

void gs_api_error(gs_http_req *req, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gs_reply_verror(req, status, code, fmt, ap);
    va_end(ap);
}

void gs_api_respond_json(gs_http_req *req, int status, json_t *o)
{
    char *body = json_dumps(o, JSON_COMPACT);
    size_t len = strlen(body);
    body = gs_mem_realloc(body, len + 2);
    body[len++] = '\n';
    gs_http_respond(req, status, "application/json", body, len, NULL);
    free(body);
    json_decref(o);
}

void gs_api_respond_text(gs_http_req *req, int status, const char *text)
{
    gs_http_respond(req, status, "text/plain; charset=utf-8", text, strlen(text), NULL);
}

char *gs_api_known_names(gs_server *s)
{
    gs_buf b;
    gs_buf_init(&b, 8192);
    for (int i = 0; i < s->cfg->nmodels; i++) {
        const gs_model_cfg *m = &s->cfg->models[i];
        if (m->unlisted)
            continue;
        gs_buf_printf(&b, "%s%s", b.len ? ", " : "", m->id);
        for (int a = 0; a < m->naliases; a++)
            gs_buf_printf(&b, ", %s", m->aliases[a]);
    }
    if (b.len == 0)
        gs_buf_puts(&b, "(none: the config has no models)");
    return gs_buf_steal(&b);
}

/* ---- JSON views ---- */

json_t *gs_api_model_json(gs_server *s, int idx)
{
    const gs_model_cfg *m = &s->cfg->models[idx];
    gs_proc *p = s->procs[idx];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(m->id));
    if (m->name)
        json_object_set_new(o, "name", json_string(m->name));
    if (m->description)
        json_object_set_new(o, "description", json_string(m->description));
    json_t *al = json_array();
    for (int a = 0; a < m->naliases; a++)
        json_array_append_new(al, json_string(m->aliases[a]));
    json_object_set_new(o, "aliases", al);
    json_object_set_new(o, "state", json_string(gs_proc_state_name(p->state)));
    if (m->group >= 0 && m->group < s->cfg->ngroups)
        json_object_set_new(o, "group", json_string(s->cfg->groups[m->group].id));
    json_object_set_new(o, "ttl", json_integer(m->ttl));
    double left = gs_proc_ttl_left(p);
    json_object_set_new(o, "ttl_left", left >= 0 ? json_real(left) : json_null());
    json_object_set_new(o, "inflight", json_integer(p->inflight));
    json_object_set_new(o, "queued", json_integer(gs_sched_queued(&s->sched, p)));
    json_object_set_new(o, "unlisted", json_boolean(m->unlisted));
    json_object_set_new(o, "port", json_integer(m->proxy_port));
    static const char *meta_keys[] = {"kind", "parameters", "quantization", "file", "size",
                                      "context"};
    if (m->metadata && json_is_object(m->metadata))
        for (size_t k = 0; k < GS_ARRAY_LEN(meta_keys); k++) {
            json_t *v = json_object_get(m->metadata, meta_keys[k]);
            if (v)
                json_object_set(o, meta_keys[k], v);
        }
    json_object_set_new(o, "error",
                        p->state == GS_PROC_FAILED && p->error ? json_string(p->error)
                                                               : json_null());
    return o;
}

json_t *gs_api_service_json(gs_server *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "state",
                        json_string(s->state == GS_SERVICE_RUNNING ? "running" : "stopped"));
    json_object_set_new(o, "listen", json_string(s->listen));
    char url[300];
    const char *l = s->listen;
    if (l[0] == ':' || strncmp(l, "0.0.0.0:", 8) == 0)
        snprintf(url, sizeof url, "%s://127.0.0.1:%s/v1", s->tls_cert ? "https" : "http",
                 strrchr(l, ':') + 1);
    else
        snprintf(url, sizeof url, "%s://%s/v1", s->tls_cert ? "https" : "http", l);
    json_object_set_new(o, "api_url", json_string(url));
    json_object_set_new(o, "config", s->config_path ? json_string(s->config_path) : json_null());
    json_object_set_new(o, "mode", json_string(s->integrated ? "integrated" : "config"));
    json_t *dirs = json_array();
    for (int i = 0; i < s->nmodels_dirs; i++)
        json_array_append_new(dirs, json_string(s->models_dirs[i]));
    json_object_set_new(o, "models_dirs", dirs);
    json_object_set_new(o, "llama_server",
                        s->llama_server ? json_string(s->llama_server) : json_null());
    json_t *pr = json_array();
    for (int i = 0; i < s->nproblems; i++)
        json_array_append_new(pr, json_string(s->problems[i]));
    json_object_set_new(o, "problems", pr);
    json_object_set_new(o, "uptime", json_real(s->state == GS_SERVICE_RUNNING
                                                   ? (double)(gs_clock_ms() - s->started_ms) / 1000.0
                                                   : 0.0));
    json_object_set_new(o, "version", json_string(GS_VERSION));
    json_t *models = json_array();
    for (int i = 0; i < s->cfg->nmodels; i++)
        json_array_append_new(models, gs_api_model_json(s, i));
    json_object_set_new(o, "models", models);
    return o;
}
/* ---- routes ---- */

static bool path_is(const gs_http_req *req, const char *p)
{
    return strcmp(req->path, p) == 0;
}

static bool method_is(const gs_http_req *req, const char *m)
{
    return strcmp(req->method, m) == 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode (and '+' as space when form is set) into a new string. */
static char *url_decode(const char *s, size_t n, bool form)
{
    char *out = gs_mem_alloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (form && s[i] == '+') {
            out[k++] = ' ';
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = 0;
    return out;
}

static char *query_param(const gs_http_req *req, const char *name)
{
    size_t nl = strlen(name);
    const char *q = req->query;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > nl && strncmp(q, name, nl) == 0 && q[nl] == '=')
            return url_decode(q + nl + 1, len - nl - 1, true);
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* Constant-time comparison, so response timing tells nothing about a key. */
static bool key_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_decode(const char *in)
{
    size_t n = strlen(in);
    char *out = gs_mem_alloc(n + 1);
    size_t k = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n && in[i] != '='; i++) {
        const char *p = strchr(b64tab, in[i]);
        if (!p || !in[i])
            break;
        v = (v << 6) | (unsigned)(p - b64tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (char)((v >> bits) & 0xff);
        }
    }
    out[k] = 0;
    return out;
}

bool gs_api_authorized(gs_server *s, const gs_http_req *req)
{
    if (s->cfg->napi_keys == 0)
        return true;
    char *given = NULL;
    const char *h = gs_http_header_get(req, "authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        given = gs_mem_strdup(h + 7);
    } else if (h && strncasecmp(h, "Basic ", 6) == 0) {
        char *dec = b64_decode(h + 6);
        char *colon = strchr(dec, ':');
        given = gs_mem_strdup(colon ? colon + 1 : dec);
        free(dec);
    } else if ((h = gs_http_header_get(req, "x-api-key"))) {
        given = gs_mem_strdup(h);
    }
    bool ok = false;
    for (int i = 0; given && i < s->cfg->napi_keys; i++)
        ok |= key_equal(given, s->cfg->api_keys[i]);
    free(given);
    return ok;
}

/* The `model` field of a multipart/form-data body, or NULL. */
static char *multipart_model(const gs_http_req *req, const char *ctype)
{
    const char *b = strstr(ctype, "boundary=");
    if (!b)
        return NULL;
    b += 9;
    char boundary[200];
    size_t bl = 0;
    if (*b == '"')
        b++;
    while (*b && *b != '"' && *b != ';' && bl + 3 < sizeof boundary)
        boundary[bl++] = *b++;
    boundary[bl] = 0;
    const char *body = req->body.data;
    size_t len = req->body.len;
    if (!body || !bl)
        return NULL;
    const char *key = "name=\"model\"";
    const char *hit = memmem(body, len, key, strlen(key));
    if (!hit)
        return NULL;
    const char *start = memmem(hit, len - (size_t)(hit - body), "\r\n\r\n", 4);
    if (!start)
        return NULL;
    start += 4;
    const char *end = memmem(start, len - (size_t)(start - body), "\r\n--", 4);
    if (!end || end - start > 512)
        return NULL;
    return gs_mem_strndup(start, (size_t)(end - start));
}

/* Whether a request to m by `name` needs its body as a tree: only these filters change it. */
static bool rewrites_body(const gs_model_cfg *m, const char *name)
{
    return m->use_model_name || m->nstrip > 0 || (m->set_params && json_is_object(m->set_params)) ||
           (m->set_params_by_id && json_object_get(m->set_params_by_id, name));
}

static void bad_json(gs_http_req *req, const char *what, int line, int column)
{
    gs_api_error(req, 400, "invalid_json", "request body is not valid JSON: %s (line %d, column %d)",
                 what, line, column);
}

static bool set_all(json_t *root, const json_t *params)
{
    bool changed = false;
    const char *k;
    json_t *v;
    if (!params || !json_is_object(params))
        return false;
    json_object_foreach((json_t *)params, k, v) {
        if (strcmp(k, "model") == 0)
            continue; /* the model is never set by a filter (llama-swap protects it too) */
        json_object_set(root, k, v);
        changed = true;
    }
    return changed;
}

/* Apply useModelName, stripParams, setParams and then setParamsByID of the name the request
 * used (`asked`); returns a new body or NULL when unchanged. */
static char *rewrite_body(const gs_model_cfg *m, const char *asked, json_t *root, size_t *len)
{
    bool changed = false;
    if (m->use_model_name) {
        json_object_set_new(root, "model", json_string(m->use_model_name));
        changed = true;
    }
    for (int i = 0; i < m->nstrip; i++)
        if (json_object_del(root, m->strip_params[i]) == 0)
            changed = true;
    changed |= set_all(root, m->set_params);
    if (m->set_params_by_id && asked)
        changed |= set_all(root, json_object_get(m->set_params_by_id, asked));
    if (!changed)
        return NULL;
    char *out = json_dumps(root, JSON_COMPACT);
    *len = strlen(out);
    return out;
}

static bool refuse_for_memory(gs_server *s, gs_http_req *req, int idx);

/* Profiles, selectors, models and aliases, peers (resolve.h), over the models' states now. */
static int resolve(gs_server *s, const char *name, gs_resolved *out, char *why, size_t n)
{
    int nm = s->cfg->nmodels;
    /* Every request passes here: the stack for everyday model counts, the heap past them. */
    unsigned char st_s[64];
    int busy_s[64];
    bool small = nm < 64;
    unsigned char *st = small ? st_s : gs_mem_calloc((size_t)nm + 1, 1);
    int *busy = small ? busy_s : gs_mem_calloc((size_t)nm + 1, sizeof *busy);
    for (int i = 0; i < nm; i++) {
        gs_proc_state ps = s->procs[i]->state;
        /* DYING counts as ready here: a request for it is held and reaches its restart. */
        st[i] = ps == GS_PROC_READY || ps == GS_PROC_DYING ? 2
                : ps == GS_PROC_STARTING                  ? 1
                : ps == GS_PROC_STOPPING                  ? 3
                                                          : 0;
        busy[i] = s->procs[i]->inflight + gs_sched_queued(&s->sched, s->procs[i]);
    }
    gs_resolve_view v = {s->cfg, s->active_profile, st, busy, s->selector_turn};
    int rc = gs_resolve_name(&v, name, out, why, n);
    if (rc == 0 && out->selector >= 0)
        s->selector_turn++;
    if (!small) {
        free(st);
        free(busy);
    }
    return rc;
}

static void handle_inference(gs_server *s, gs_http_req *req, const char *rest)
{
    char *model = NULL, *body = NULL;
    size_t body_len = 0;
    json_t *root = NULL;
    bool is_json = false;
    if (s->state != GS_SERVICE_RUNNING) {
        gs_timing_tag_now(req);
        if (gs_server_shutting_down(s))
            gs_api_error(req, 503, "service_unavailable", "ggswap is shutting down");
        else
            gs_api_error(req, 503, "service_unavailable",
                         "the service is stopped; start it (POST /api/service/start or the page)");
        goto out;
    }
    const char *ctype = gs_http_header_get(req, "content-type");
    if (method_is(req, "GET") || method_is(req, "HEAD")) {
        model = query_param(req, "model");
    } else if (ctype && strncasecmp(ctype, "multipart/form-data", 19) == 0) {
        model = multipart_model(req, ctype);
    } else {
        /* One strict pass finds the model; a tree is built only for a model whose filters
         * rewrite the body (below). */
        gs_jscan_result jr;
        if (gs_jscan_model(req->body.data, req->body.len, &jr) != 0) {
            if (req->body.len)
                bad_json(req, jr.error, jr.line, jr.column);
            else
                gs_api_error(req, 400, "missing_model",
                                "request body is empty: send JSON with a \"model\" field");
            goto out;
        }
        model = jr.model;
        is_json = true;
    }
    if (!model || !*model) {
        gs_api_error(req, 400, "missing_model",
                        "no model in the request: set \"model\" in the JSON body (or ?model= for "
                        "GET, or a model form field)");
        goto out;
    }
    gs_resolved r;
    char why[300];
    if (resolve(s, model, &r, why, sizeof why) < 0) {
        char *names = gs_api_known_names(s);
        gs_api_error(req, 404, "model_not_found", "%s; known models: %s", why, names);
        free(names);
        goto out;
    }
    if (r.model < 0) {
        json_error_t err;
        if (is_json)
            root = json_loadb(req->body.data, req->body.len, 0, &err);
        gs_peers_forward(s->peers, &s->cfg->peers[r.peer], r.peer_model, req, root);
        goto out;
    }
    int idx = r.model;
    bool renamed = strcmp(r.name, model) != 0;
    if (is_json && (renamed || rewrites_body(&s->cfg->models[idx], r.name))) {
        json_error_t err;
        root = json_loadb(req->body.data, req->body.len, 0, &err);
        if (!root) { /* valid JSON that jansson cannot hold (a number out of its range) */
            bad_json(req, err.text, err.line, err.column);
            goto out;
        }
        if (renamed) /* a pin or selector chose */
            json_object_set_new(root, "model", json_string(r.name));
        body = rewrite_body(&s->cfg->models[idx], r.name, root, &body_len);
        if (!body && renamed) {
            body = json_dumps(root, JSON_COMPACT);
            body_len = strlen(body);
        }
    }
    if (refuse_for_memory(s, req, idx)) {
        free(body);
        goto out;
    }
    req->upgrade = false; /* only /upstream/ tunnels; this gets a plain answer */
    gs_sched_request(&s->sched, req, idx, req->url, body, body_len);
out:
    json_decref(root);
    free(model);
}

/* A "." or ".." path segment (after decoding) could step outside the model's API. */
static bool has_dot_segment(const char *path)
{
    for (const char *seg = path; seg;) {
        while (*seg == '/')
            seg++;
        size_t len = strcspn(seg, "/");
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return true;
        seg = seg[len] ? seg + len : NULL;
    }
    return false;
}

/* ANY /upstream/<model>/<path>: straight to the model's server. Model ids may contain '/': the
 * longest id or alias that prefixes the path wins. */
static void handle_upstream(gs_server *s, gs_http_req *req, const char *rest)
{
    const char *after = req->url + strlen("/upstream/");
    char *dec = url_decode(after, strcspn(after, "?"), false);
    int best = -1;
    size_t best_len = 0;
    for (int i = 0; i < s->cfg->nmodels; i++) {
        const gs_model_cfg *m = &s->cfg->models[i];
        for (int a = -1; a < m->naliases; a++) {
            const char *name = a < 0 ? m->id : m->aliases[a];
            size_t l = strlen(name);
            if (l > best_len && strncmp(dec, name, l) == 0 && (dec[l] == '/' || dec[l] == 0)) {
                best = i;
                best_len = l;
            }
        }
    }
    if (best < 0) {
        char *names = gs_api_known_names(s);
        gs_api_error(req, 404, "model_not_found", "no model matches /upstream/%s; known: %s",
                        dec, names);
        free(names);
        goto out;
    }
    if (dec[best_len] == 0) {
        char loc[1200];
        snprintf(loc, sizeof loc, "Location: /upstream/%s/\r\n", s->cfg->models[best].id);
        gs_http_respond(req, method_is(req, "GET") || method_is(req, "HEAD") ? 301 : 308, NULL,
                        NULL, 0, loc);
        goto out;
    }
    /* The remaining path, still encoded as received; refuse dot segments. */
    const char *enc = after;
    size_t skip = 0;
    for (size_t consumed = 0; consumed < best_len && enc[skip];) {
        if (enc[skip] == '%' && hexval(enc[skip + 1]) >= 0 && hexval(enc[skip + 2]) >= 0)
            skip += 3;
        else
            skip++;
        consumed++;
    }
    const char *upath = enc + skip;
    if (has_dot_segment(dec + best_len)) {
        gs_api_error(req, 400, "bad_path", "dot segments are not allowed in /upstream paths");
        goto out;
    }
    if (s->state != GS_SERVICE_RUNNING) {
        gs_timing_tag_now(req);
        gs_api_error(req, 503, "service_unavailable",
                     gs_server_shutting_down(s) ? "ggswap is shutting down" : "the service is stopped");
        goto out;
    }
    /* upstream.ignorePaths: a page of the model's own server asks for its assets long after
     * it was unloaded; such a path must not swap models (409, as llama-swap). */
    gs_proc_state bs = s->procs[best]->state;
    if (bs != GS_PROC_READY && bs != GS_PROC_DYING && gs_config_ignore_path(s->cfg, dec + best_len)) {
        gs_timing_tag_now(req);
        gs_api_error(req, 409, "conflict", "model %s is not loaded; path matches "
                     "upstream.ignorePaths", s->cfg->models[best].id);
        goto out;
    }
    /* compat.ignoreWebsockets: such a WebSocket neither starts the model nor counts as
     * activity (in flight, TTL, swaps); it reaches a ready model only (llama-swap's 409). */
    const gs_model_cfg *mc = &s->cfg->models[best];
    if (req->upgrade && mc->ignore_websockets && gs_tunnel_is_websocket(req)) {
        if (s->procs[best]->state != GS_PROC_READY)
            gs_api_error(req, 409, "conflict", "model %s is not loaded; ignored websocket "
                         "requests cannot start it", mc->id);
        else
            gs_tunnel_serve(s->loop, req, mc->id, mc->proxy_host, mc->proxy_port,
                            mc->proxy_path, upath);
        goto out;
    }
    if (!refuse_for_memory(s, req, best))
        gs_sched_request(&s->sched, req, best, upath, NULL, 0);
out:
    free(dec);
}

static json_t *listing_meta(int idx, void *ud)
{
    return gs_api_model_json(ud, idx);
}

/* GET /v1/models: llama-swap's list (listing.h), with ggswap's live view under meta.ggswap. */
static void handle_models_list(gs_server *s, gs_http_req *req, const char *rest)
{
    int n = s->cfg->nmodels;
    unsigned char *st = gs_mem_calloc((size_t)(n ? n : 1), 1);
    for (int i = 0; i < n; i++) {
        gs_proc_state ps = s->procs[i]->state;
        st[i] = ps == GS_PROC_READY || ps == GS_PROC_DYING ? 2 : ps == GS_PROC_STARTING;
    }
    gs_listing_in in = {.cfg = s->cfg, .state = st, .created = (int64_t)(gs_clock_wall_ms() / 1000),
                        .ggswap_meta = listing_meta, .ud = s};
    gs_api_respond_json(req, 200, gs_listing_build(&in));
    free(st);
}

static void handle_running(gs_server *s, gs_http_req *req, const char *rest)
{
    json_t *arr = json_array();
    for (int i = 0; i < s->cfg->nmodels; i++) {
        gs_proc *p = s->procs[i];
        if (p->state == GS_PROC_STOPPED || p->state == GS_PROC_FAILED)
            continue;
        const gs_model_cfg *m = &s->cfg->models[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i}", "model", m->id, "state",
                              gs_proc_state_name(p->state), "proxy", m->proxy, "ttl", m->ttl,
                              "inflight", p->inflight);
        if (o && m->cmd)
            json_object_set_new(o, "cmd", json_string(m->cmd));
        if (o)
            json_array_append_new(arr, o);
    }
    gs_api_respond_json(req, 200, json_pack("{s:o}", "running", arr));
}

static void unload(gs_server *s, gs_proc *p)
{
    gs_sched_fail_queued(&s->sched, p, 503, "the model was unloaded");
    gs_sched_cancel_active(&s->sched, p, "the model was unloaded");
    gs_proc_stop_within(p, "unloaded on request", p->cfg->unload_timeout * 1000);
}

/* GET /unload and POST /api/models/unload[/<model>] answer once every process they stopped is
 * gone, as llama-swap's do: a script may start another GPU job right after. The children are known by
 * pid (a reload may free their gs_proc meanwhile); a pid no process holds any more has exited. */
struct gs_unload_wait {
    gs_unload_wait *next;
    gs_server *s;
    gs_http_req *req;
    int *pids;
    int npids;
};

static void unload_answer(gs_http_req *req)
{
    if (path_is(req, "/unload"))
        gs_api_respond_text(req, 200, "OK\n");
    else
        gs_api_respond_json(req, 200, json_pack("{s:b, s:s}", "ok", 1, "msg", "ok"));
}

static bool pid_held(gs_server *s, int pid)
{
    for (int i = 0; s->procs && i < s->cfg->nmodels; i++)
        if (s->procs[i]->pid == pid && gs_proc_alive(s->procs[i]))
            return true;
    for (int i = 0; i < s->nretired; i++)
        if (s->retired[i]->pid == pid && gs_proc_alive(s->retired[i]))
            return true;
    return false;
}

static void unload_wait_unlink(gs_unload_wait *w)
{
    for (gs_unload_wait **pp = &w->s->unload_waits; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    free(w->pids);
    free(w);
}

static void unload_wait_abort(gs_http_req *req, void *ud)
{
    unload_wait_unlink(ud);
}

void gs_api_unload_waits_check(gs_server *s)
{
    gs_unload_wait *next;
    for (gs_unload_wait *w = s->unload_waits; w; w = next) {
        next = w->next;
        bool gone = true;
        for (int i = 0; i < w->npids && gone; i++)
            gone = !pid_held(s, w->pids[i]);
        if (!gone)
            continue;
        gs_http_req *req = w->req;
        req->on_abort = NULL;
        req->ud = NULL;
        unload_wait_unlink(w);
        unload_answer(req);
    }
}

/* Stop one model (p) or every model (p NULL) and answer once the children stopped are gone. */
static void unload_and_wait(gs_server *s, gs_http_req *req, gs_proc *p)
{
    gs_unload_wait *w = gs_mem_calloc(1, sizeof *w);
    w->pids = gs_mem_calloc((size_t)s->cfg->nmodels + 1, sizeof *w->pids);
    for (int i = 0; i < s->cfg->nmodels; i++) {
        gs_proc *q = s->procs[i];
        if (p && q != p)
            continue;
        unload(s, q);
        if (gs_proc_alive(q) && q->pid > 0)
            w->pids[w->npids++] = q->pid;
    }
    if (w->npids > 0) {
        w->s = s;
        w->req = req;
        w->next = s->unload_waits;
        s->unload_waits = w;
        req->ud = w;
        req->on_abort = unload_wait_abort;
        return;
    }
    free(w->pids);
    free(w);
    unload_answer(req);
}

static void handle_unload(gs_server *s, gs_http_req *req, const char *model)
{
    gs_proc *p = NULL;
    if (model && *model) {
        char *dec = url_decode(model, strlen(model), false);
        p = gs_server_find(s, dec, NULL);
        if (!p) {
            char *names = gs_api_known_names(s);
            gs_api_error(req, 404, "model_not_found", "model '%s' not found; known models: %s",
                            dec, names);
            free(names);
            free(dec);
            return;
        }
        free(dec);
    }
    unload_and_wait(s, req, p);
}

/* A model that cannot fit even alone is answered at once (SPEC §4), not queued forever. */
static bool refuse_for_memory(gs_server *s, gs_http_req *req, int idx)
{
    char *why = gs_memory_refuse(s, idx);
    if (why)
        gs_timing_tag_now(req);
    if (why)
        gs_api_error(req, 503, "insufficient_memory", "%s", why);
    free(why);
    return why != NULL;
}

static void handle_load(gs_server *s, gs_http_req *req, const char *model)
{
    char *dec = url_decode(model, strlen(model), false);
    int idx;
    if (!gs_server_find(s, dec, &idx)) {
        char *names = gs_api_known_names(s);
        gs_api_error(req, 404, "model_not_found", "model '%s' not found; known models: %s", dec,
                        names);
        free(names);
    } else if (s->state != GS_SERVICE_RUNNING) {
        gs_api_error(req, 503, "service_unavailable",
                     gs_server_shutting_down(s) ? "ggswap is shutting down"
                                                : "the service is stopped; start it first");
    } else if (!refuse_for_memory(s, req, idx)) {
        gs_sched_load(&s->sched, req, idx);
    }
    free(dec);
}

static void handle_logs(gs_server *s, gs_http_req *req, const char *rest)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    char *proxy = gs_ring_dump(gs_log_proxy_ring(), NULL);
    gs_buf_puts(&b, proxy);
    free(proxy);
    for (int i = 0; i < s->cfg->nmodels; i++) {
        size_t len;
        char *l = gs_ring_dump(&s->procs[i]->log, &len);
        if (len) {
            gs_buf_printf(&b, "==== %s ====\n", s->procs[i]->id);
            gs_buf_append(&b, l, len);
        }
        free(l);
    }
    gs_http_respond(req, 200, "text/plain; charset=utf-8", b.data ? b.data : "", b.len, NULL);
    gs_buf_free(&b);
}

static void handle_log_stream(gs_server *s, gs_http_req *req, const char *which)
{
    char *hist = NULL;
    char *filter = NULL;
    bool no_history = strstr(req->query, "no-history") != NULL;
    if (which && strcmp(which, "upstream") == 0) {
        /* Before the model ids, as llama-swap looks them up. */
        filter = gs_mem_strdup("upstream");
        if (!no_history)
            hist = gs_ring_dump(gs_log_upstream_ring(), NULL);
    } else if (which && *which && strcmp(which, "proxy") != 0) {
        filter = url_decode(which, strlen(which), false);
        gs_proc *p = gs_server_find(s, filter, NULL);
        if (!p) {
            gs_api_error(req, 404, "model_not_found", "no model '%s' to stream logs of",
                            filter);
            free(filter);
            return;
        }
        free(filter);
        filter = gs_mem_strdup(p->id);
        if (!no_history)
            hist = gs_ring_dump(&p->log, NULL);
    } else {
        if (which && *which)
            filter = gs_mem_strdup("proxy");
        if (!no_history)
            hist = gs_ring_dump(filter ? gs_log_proxy_ring() : gs_log_mux_ring(), NULL);
    }
    gs_events_add_log(s->events, req, filter, hist);
    free(hist);
    free(filter);
}

static void handle_service(gs_server *s, gs_http_req *req, const char *action)
{
    if (!*action) {
        gs_api_respond_json(req, 200, gs_api_service_json(s));
        return;
    }
    if (!method_is(req, "POST")) {
        gs_api_error(req, 405, "method_not_allowed", "use POST for /api/service/%s", action);
        return;
    }
    char *msg = NULL;
    json_t *extra = json_object();
    int rc = 0;
    if (strcmp(action, "start") == 0) {
        gs_server_service_start(s);
        msg = gs_mem_strdup("service started");
    } else if (strcmp(action, "stop") == 0) {
        gs_server_service_stop(s);
        msg = gs_mem_strdup("service stopped; every model unloaded");
    } else if (strcmp(action, "restart") == 0) {
        gs_server_service_stop(s);
        rc = gs_server_regenerate(s, &msg);
        gs_server_service_start(s);
        if (rc == 0) {
            free(msg);
            msg = gs_mem_strdup("service restarted with the config reloaded");
        }
    } else if (strcmp(action, "regenerate") == 0) {
        int before = s->cfg->nmodels;
        rc = gs_server_regenerate(s, &msg);
        if (rc == 0) {
            free(msg);
            msg = gs_mem_printf("config %s: %d models (was %d)",
                                s->integrated ? "regenerated" : "reloaded", s->cfg->nmodels,
                                before);
        }
    } else {
        json_decref(extra);
        gs_api_error(req, 404, "not_found",
                        "unknown service action '%s' (start, stop, restart, regenerate)", action);
        return;
    }
    if (rc == 0 && s->last_diff && (strcmp(action, "regenerate") == 0 ||
                                    strcmp(action, "restart") == 0))
        json_object_update(extra, s->last_diff);
    if (rc < 0) {
        json_decref(extra);
        gs_api_error(req, 500, "service_action_failed", "%s failed: %s", action,
                        msg ? msg : strerror(-rc));
        free(msg);
        gs_server_publish_service(s);
        return;
    }
    json_object_set_new(extra, "ok", json_true());
    json_object_set_new(extra, "state",
                        json_string(s->state == GS_SERVICE_RUNNING ? "running" : "stopped"));
    json_object_set_new(extra, "message", json_string(msg ? msg : "ok"));
    free(msg);
    gs_api_respond_json(req, 200, extra);
    gs_server_publish_service(s);
}

static void handle_ui(gs_server *s, gs_http_req *req, const char *rest)
{
    const char *file = req->path + 3; /* after "/ui" */
    if (*file == 0) {
        gs_http_respond(req, 301, NULL, NULL, 0, "Location: /ui/\r\n");
        return;
    }
    file++;
    const gs_webui_file *f = gs_webui_find(file);
    if (!f) {
        gs_api_error(req, 404, "not_found", "no such file in the page: /ui/%s", file);
        return;
    }
    /* The page needs nothing but its own files and the API of this origin: no inline script or
     * style, no other host, no frames. An injected <script> or a stray style attribute is
     * refused by the browser, and the console says so (the page tests assert it stays quiet). */
    gs_http_respond(req, 200, f->mime, f->data, f->len,
                    "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
                    "Content-Security-Policy: default-src 'none'; script-src 'self'; "
                    "style-src 'self'; img-src 'self'; connect-src 'self'; "
                    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
                    "Referrer-Policy: no-referrer\r\n");
}


static void handle_events(gs_server *s, gs_http_req *req, const char *rest)
{
    gs_buf hello;
    gs_buf_init(&hello, 0);
    json_t *svc = gs_api_service_json(s);
    char *d = json_dumps(svc, JSON_COMPACT);
    gs_buf_printf(&hello, "retry: 2000\nevent: service\ndata: %s\n\n", d);
    free(d);
    json_decref(svc);
    gs_stats_history_sse(&s->stats, &hello);
    gs_events_add_sse(s->events, req, hello.data);
    gs_buf_free(&hello);
}

static void handle_health(gs_server *s, gs_http_req *req, const char *rest)
{
    gs_api_respond_text(req, 200, "OK\n");
}

static void handle_root(gs_server *s, gs_http_req *req, const char *rest)
{
    gs_http_respond(req, 302, NULL, NULL, 0, "Location: /ui/\r\n");
}

static void handle_version(gs_server *s, gs_http_req *req, const char *rest)
{
    gs_api_respond_json(req, 200, json_pack("{s:s}", "version", GS_VERSION));
}

static void handle_options(gs_server *s, gs_http_req *req, const char *rest)
{
    gs_http_respond(req, 204, NULL, NULL, 0, "Allow: GET, POST, OPTIONS\r\n");
}

/* ---- the route table: first match wins ---- */

#define INFER(p) {GS_API_GET | GS_API_POST, p, false, handle_inference, true}

/* profiles (llama-swap's runtime pins): GET /api/profiles, PUT /api/profiles/active. */
static json_t *profile_active_json(gs_server *s)
{
    int a = s->active_profile;
    return a >= 0 && a < s->cfg->nprofiles ? json_string(s->cfg->profiles[a].id) : json_null();
}

static void handle_profiles(gs_server *s, gs_http_req *req, const char *rest)
{
    json_t *list = json_array();
    for (int i = 0; i < s->cfg->nprofiles; i++) {
        const gs_profile_cfg *p = &s->cfg->profiles[i];
        json_t *pins = json_object();
        for (int j = 0; j < p->npins; j++)
            json_object_set_new(pins, p->pins[j].from,
                                p->pins[j].to ? json_string(p->pins[j].to) : json_null());
        json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "id", p->id, "description",
                                              p->description ? p->description : "", "pins", pins));
    }
    gs_api_respond_json(req, 200, json_pack("{s:o, s:o}", "active", profile_active_json(s),
                                            "profiles", list));
}

static void handle_profile_active(gs_server *s, gs_http_req *req, const char *rest)
{
    json_error_t e;
    json_t *b = req->body.len ? json_loadb(req->body.data, req->body.len, 0, &e) : NULL;
    json_t *name = json_is_object(b) ? json_object_get(b, "name") : NULL;
    if (!name || (!json_is_string(name) && !json_is_null(name))) {
        gs_api_error(req, 400, "bad_request", "send {\"name\": \"<profile>\"} or {\"name\": null}");
    } else if (json_is_null(name)) {
        s->active_profile = -1;
        gs_info("profile: none active");
        gs_api_respond_json(req, 200, json_pack("{s:o}", "active", json_null()));
    } else {
        int i = gs_config_find_profile(s->cfg, json_string_value(name));
        if (i < 0) {
            gs_api_error(req, 404, "not_found", "profile '%s' not found", json_string_value(name));
        } else {
            s->active_profile = i;
            gs_info("profile: %s active", s->cfg->profiles[i].id);
            gs_api_respond_json(req, 200, json_pack("{s:o}", "active", profile_active_json(s)));
        }
    }
    json_decref(b);
}

static const gs_api_route routes[] = {
    {GS_API_ANY, "/health", false, handle_health, false},
    /* inference endpoints, routed by the request's `model` */
    INFER("/v1/chat/completions"),
    INFER("/v1/completions"),
    INFER("/v1/embeddings"),
    INFER("/v1/rerank"),
    INFER("/rerank"),
    INFER("/v1/reranking"),
    INFER("/reranking"),
    INFER("/v1/responses"),
    INFER("/v1/messages"),
    INFER("/v1/messages/count_tokens"),
    INFER("/v1/audio/speech"),
    INFER("/v1/audio/transcriptions"),
    INFER("/v1/audio/voices"),
    INFER("/v1/images/generations"),
    INFER("/v1/images/edits"),
    INFER("/completion"),
    INFER("/completions"),
    INFER("/infill"),
    INFER("/embedding"),
    INFER("/embeddings"),
    INFER("/tokenize"),
    INFER("/detokenize"),
    INFER("/props"),
    INFER("/apply-template"),
    {GS_API_ANY, "/upstream/", true, handle_upstream, true},
    {GS_API_ANY, "/", false, handle_root, true},
    {GS_API_ANY, "/ui", false, handle_ui, true},
    {GS_API_ANY, "/ui/", true, handle_ui, true},
    {GS_API_ANY, "/v1/models", false, handle_models_list, true},
    {GS_API_ANY, "/models", false, handle_models_list, true},
    {GS_API_ANY, "/running", false, handle_running, true},
    {GS_API_ANY, "/unload", false, handle_unload, true},
    {GS_API_ANY, "/api/models/unload", false, handle_unload, true},
    {GS_API_POST, "/api/models/unload/", true, handle_unload, true},
    {GS_API_POST, "/api/models/load/", true, handle_load, true},
    {GS_API_GET | GS_API_HEAD, "/api/profiles", false, handle_profiles, true},
    {GS_API_PUT, "/api/profiles/active", false, handle_profile_active, true},
    {GS_API_ANY, "/logs", false, handle_logs, true},
    {GS_API_ANY, "/logs/stream", false, handle_log_stream, true},
    {GS_API_ANY, "/logs/stream/", true, handle_log_stream, true},
    {GS_API_ANY, "/api/events", false, handle_events, true},
    {GS_API_ANY, "/api/requests", false, gs_metrics_handle_requests, true},
    {GS_API_ANY, "/metrics", false, gs_metrics_handle, true},
    {GS_API_GET, "/api/memory", false, gs_memory_handle_api, true},
    {GS_API_ANY, "/api/service", false, handle_service, true},
    {GS_API_ANY, "/api/service/", true, handle_service, true},
    {GS_API_ANY, "/api/version", false, handle_version, true},
    /* getting models (pullapi.c) */
    {GS_API_POST, "/api/models/pull", false, gs_pullapi_handle_pull, true},
    {GS_API_GET | GS_API_DELETE, "/api/downloads", false, gs_pullapi_handle_downloads, true},
    {GS_API_GET | GS_API_DELETE, "/api/downloads/", true, gs_pullapi_handle_downloads, true},
    {GS_API_GET, "/api/hub/", true, gs_pullapi_handle_hub, true},
    {GS_API_DELETE, "/api/models/file/", true, gs_pullapi_handle_delete_file, true},
    {GS_API_OPTIONS, "", true, handle_options, true},
};

unsigned gs_api_method_bit(const char *m)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"GET", GS_API_GET},         {"POST", GS_API_POST},     {"HEAD", GS_API_HEAD},
                 {"OPTIONS", GS_API_OPTIONS}, {"PUT", GS_API_PUT},       {"DELETE", GS_API_DELETE},
                 {"PATCH", GS_API_PATCH}};
    for (size_t i = 0; i < GS_ARRAY_LEN(names); i++)
        if (strcmp(m, names[i].name) == 0)
            return names[i].bit;
    return GS_API_OTHER;
}

const gs_api_route *gs_api_route_find(const char *method, const char *path, const char **rest)
{
    unsigned bit = gs_api_method_bit(method);
    for (size_t i = 0; i < GS_ARRAY_LEN(routes); i++) {
        const gs_api_route *r = &routes[i];
        if (!(r->methods & bit))
            continue;
        size_t n = strlen(r->path);
        if (r->prefix ? strncmp(path, r->path, n) == 0 : strcmp(path, r->path) == 0) {
            if (rest)
                *rest = path + (r->prefix ? n : strlen(path));
            return r;
        }
    }
    if (rest)
        *rest = "";
    return NULL;
}

void gs_api_handle(gs_http_req *req, void *ud)
{
    gs_server *s = ud;
    const char *rest;
    const gs_api_route *r = gs_api_route_find(req->method, req->path, &rest);
    /* CORS comes first: a browser's preflight never carries the API key. */
    const char *origin = gs_http_header_get(req, "origin");
    if (origin && gs_cors_allowed(s->cfg->cors_origins, s->cfg->ncors_origins, origin)) {
        if (strcmp(req->method, "OPTIONS") == 0 &&
            gs_http_header_get(req, "access-control-request-method")) {
            char h[sizeof req->head_extra];
            if (gs_cors_preflight_headers(
                    origin, gs_http_header_get(req, "access-control-request-headers"), h,
                    sizeof h)) {
                gs_http_respond(req, 204, NULL, NULL, 0, h);
                return;
            }
        }
        gs_cors_answer_headers(origin, req->head_extra, sizeof req->head_extra);
    }
    if ((!r || r->auth) && s->cfg->napi_keys && !gs_api_authorized(s, req)) {
        gs_api_error(req, 401, "unauthorized", "missing or wrong API key");
        return;
    }
    if (!r) {
        gs_api_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
        return;
    }
    r->fn(s, req, rest);
}
