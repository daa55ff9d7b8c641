#include "server.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "events.h"
#include "log.h"
#include "mem.h"
#include "proxy.h"
#include "webui.h"

static void on_proc_state(gs_proc *p, gs_proc_state old, void *ud);

/* ---- helpers ---- */

void gs_server_error(gs_http_req *req, int status, const char *code, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
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

static void respond_json(gs_http_req *req, int status, json_t *o)
{
    char *body = json_dumps(o, JSON_COMPACT);
    size_t len = strlen(body);
    body = gs_mem_realloc(body, len + 2);
    body[len++] = '\n';
    gs_http_respond(req, status, "application/json", body, len, NULL);
    free(body);
    json_decref(o);
}

static void respond_text(gs_http_req *req, int status, const char *text)
{
    gs_http_respond(req, status, "text/plain; charset=utf-8", text, strlen(text), NULL);
}

gs_proc *gs_server_find(gs_server *s, const char *name, int *idx)
{
    int i = name ? gs_config_find(s->cfg, name) : -1;
    if (idx)
        *idx = i;
    return i >= 0 ? s->procs[i] : NULL;
}

static char *known_names(gs_server *s)
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

static uint64_t wall_ms(void)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* ---- JSON views ---- */

json_t *gs_server_model_json(gs_server *s, int idx)
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
    json_object_set_new(o, "queued", json_integer(gs_proxy_queued(s, p)));
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

json_t *gs_server_service_json(gs_server *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "state",
                        json_string(s->state == GS_SERVICE_RUNNING ? "running" : "stopped"));
    json_object_set_new(o, "listen", json_string(s->listen));
    char url[300];
    const char *l = s->listen;
    if (l[0] == ':' || strncmp(l, "0.0.0.0:", 8) == 0)
        snprintf(url, sizeof url, "http://127.0.0.1:%s/v1", strrchr(l, ':') + 1);
    else
        snprintf(url, sizeof url, "http://%s/v1", l);
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
                                                   ? (double)(gs_proc_now_ms() - s->started_ms) / 1000.0
                                                   : 0.0));
    json_object_set_new(o, "version", json_string(GS_VERSION));
    json_t *models = json_array();
    for (int i = 0; i < s->cfg->nmodels; i++)
        json_array_append_new(models, gs_server_model_json(s, i));
    json_object_set_new(o, "models", models);
    return o;
}

static void publish_json(gs_server *s, const char *event, json_t *o)
{
    char *d = json_dumps(o, JSON_COMPACT);
    gs_events_publish(s->events, event, d);
    free(d);
    json_decref(o);
}

static void publish_service(gs_server *s)
{
    if (gs_events_count(s->events))
        publish_json(s, "service", gs_server_service_json(s));
}

static json_t *request_json(const gs_request_log *r)
{
    json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:i, s:f}", "id", (json_int_t)r->id, "time",
                          (json_int_t)r->time_ms, "model", r->model, "method", r->method, "path",
                          r->path, "status", r->status, "duration_ms", r->duration_ms);
    if (!o)
        return json_object();
    json_object_set_new(o, "tokens", r->tokens >= 0 ? json_integer(r->tokens) : json_null());
    double tps = r->tokens > 0 && r->duration_ms > 0 ? (double)r->tokens / (r->duration_ms / 1000.0)
                                                     : -1;
    json_object_set_new(o, "tps", tps >= 0 ? json_real(tps) : json_null());
    return o;
}

void gs_server_log_request(gs_server *s, const gs_request_log *r)
{
    gs_request_log *slot = &s->history[s->nhistory % GS_REQUEST_HISTORY];
    *slot = *r;
    slot->id = ++s->nhistory;
    s->requests_total++;
    int cls = r->status / 100;
    if (cls >= 1 && cls <= 5)
        s->responses_by_class[cls]++;
    else
        s->responses_by_class[0]++;
    if (gs_events_count(s->events))
        publish_json(s, "request", request_json(slot));
}

void gs_server_set_problems(gs_server *s, char **problems, int n)
{
    for (int i = 0; i < s->nproblems; i++)
        free(s->problems[i]);
    free(s->problems);
    s->problems = problems;
    s->nproblems = n;
}

/* ---- processes ---- */

static int proc_index(gs_server *s, const gs_proc *p)
{
    for (int i = 0; i < s->cfg->nmodels; i++)
        if (s->procs[i] == p)
            return i;
    return -1;
}

static void reap_retired(gs_server *s)
{
    for (int i = 0; i < s->nretired;) {
        gs_proc *p = s->retired[i];
        if (p->inflight == 0 && (p->state == GS_PROC_STARTING || p->state == GS_PROC_READY))
            gs_proc_stop(p, "its definition changed or it was removed (reload)");
        if (p->inflight == 0 && !gs_proc_alive(p) &&
            (p->state == GS_PROC_STOPPED || p->state == GS_PROC_FAILED)) {
            gs_proc_free(p);
            s->retired[i] = s->retired[--s->nretired];
            continue;
        }
        i++;
    }
    if (s->nretired == 0 && s->nold_configs) {
        for (int i = 0; i < s->nold_configs; i++)
            gs_config_free(s->old_configs[i]);
        s->nold_configs = 0;
    }
}

void gs_server_model_changed(gs_server *s, gs_proc *p)
{
    int idx = proc_index(s, p);
    if (idx >= 0 && gs_events_count(s->events))
        publish_json(s, "model", gs_server_model_json(s, idx));
    if (idx < 0)
        reap_retired(s); /* a retired process's last request ended: stop it now */
}

static void on_proc_state(gs_proc *p, gs_proc_state old, void *ud)
{
    gs_server *s = ud;
    int idx = proc_index(s, p);
    if (idx >= 0 && gs_events_count(s->events))
        publish_json(s, "model", gs_server_model_json(s, idx));
    reap_retired(s);
    gs_proxy_pump(s);
}

static void free_procs(gs_server *s)
{
    for (int i = 0; s->cfg && i < s->cfg->nmodels; i++)
        if (s->procs[i])
            gs_proc_free(s->procs[i]);
    free(s->procs);
    s->procs = NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool json_eq(json_t *a, json_t *b)
{
    return a == b || (a && b && json_equal(a, b));
}

/* Beyond the process: what else a reload may change in a kept model (reported as changed). */
static bool same_settings(const gs_config *ca, const gs_model_cfg *a, const gs_config *cb,
                          const gs_model_cfg *b)
{
    if (a->ttl != b->ttl || a->unlisted != b->unlisted || a->naliases != b->naliases ||
        a->concurrency_limit != b->concurrency_limit || a->nstrip != b->nstrip ||
        !str_eq(a->use_model_name, b->use_model_name) || !str_eq(a->name, b->name) ||
        !str_eq(a->description, b->description) ||
        !str_eq(ca->groups[a->group].id, cb->groups[b->group].id) ||
        !json_eq(a->set_params, b->set_params) || !json_eq(a->metadata, b->metadata))
        return false;
    for (int i = 0; i < a->naliases; i++)
        if (strcmp(a->aliases[i], b->aliases[i]) != 0)
            return false;
    for (int i = 0; i < a->nstrip; i++)
        if (strcmp(a->strip_params[i], b->strip_params[i]) != 0)
            return false;
    return true;
}

void gs_server_apply_config(gs_server *s, gs_config *cfg)
{
    gs_config *old = s->cfg;
    gs_proc **procs = gs_mem_calloc((size_t)cfg->nmodels + 1, sizeof *procs);
    json_t *added = json_array(), *removed = json_array(), *changed = json_array();
    bool *kept = old ? gs_mem_calloc((size_t)old->nmodels + 1, sizeof *kept) : NULL;
    for (int i = 0; i < cfg->nmodels; i++) {
        const gs_model_cfg *m = &cfg->models[i];
        int j = old ? gs_config_find(old, m->id) : -1;
        if (j >= 0 && strcmp(old->models[j].id, m->id) != 0)
            j = -1; /* matched an alias, not the same model */
        if (j >= 0 && gs_config_model_same_process(&old->models[j], m)) {
            if (!same_settings(old, &old->models[j], cfg, m))
                json_array_append_new(changed, json_string(m->id));
            procs[i] = s->procs[j];
            procs[i]->cfg = m;
            procs[i]->health_timeout_s = cfg->health_check_timeout;
            kept[j] = true;
        } else {
            procs[i] = gs_proc_new(s->loop, m, cfg->health_check_timeout, on_proc_state, s);
        }
    }
    for (int j = 0; old && j < old->nmodels; j++) {
        if (kept[j])
            continue;
        gs_proc *p = s->procs[j];
        int i = gs_config_find(cfg, p->id);
        json_array_append_new(i >= 0 ? changed : removed, json_string(p->id));
        gs_proxy_retarget(s, p, i >= 0 ? procs[i] : NULL);
        s->retired = gs_mem_realloc(s->retired, sizeof *s->retired * (size_t)(s->nretired + 1));
        s->retired[s->nretired++] = p;
    }
    for (int i = 0; i < cfg->nmodels; i++)
        if (!old || gs_config_find(old, cfg->models[i].id) < 0)
            json_array_append_new(added, json_string(cfg->models[i].id));
    free(kept);
    free(s->procs);
    s->procs = procs;
    s->cfg = cfg;
    if (old) {
        /* Retired processes still read their model's definition until they are gone. */
        s->old_configs = gs_mem_realloc(s->old_configs,
                                        sizeof *s->old_configs * (size_t)(s->nold_configs + 1));
        s->old_configs[s->nold_configs++] = old;
        gs_info("config: %d models (%zu added, %zu removed, %zu changed, the rest kept running)",
                cfg->nmodels, json_array_size(added), json_array_size(removed),
                json_array_size(changed));
    }
    json_decref(s->last_diff);
    s->last_diff = json_pack("{s:o, s:o, s:o}", "added", added, "removed", removed, "changed",
                             changed);
    gs_log_level lvl;
    if (cfg->log_level && gs_log_parse_level(cfg->log_level, &lvl) == 0 && !s->log_level_forced)
        gs_log_set_level(lvl);
    reap_retired(s);
    gs_proxy_pump(s);
    publish_service(s);
}

/* ---- service control ---- */

void gs_server_service_stop(gs_server *s)
{
    if (s->state == GS_SERVICE_STOPPED)
        return;
    s->state = GS_SERVICE_STOPPED;
    gs_info("service stopped: unloading every model; inference answers 503 until started");
    gs_proxy_fail_queued(s, NULL, 503, "the service is stopped");
    gs_proxy_cancel_active(s, NULL, "the service was stopped");
    for (int i = 0; i < s->cfg->nmodels; i++)
        gs_proc_stop(s->procs[i], "service stopped");
    publish_service(s);
}

static void run_preload(gs_server *s)
{
    for (int i = 0; i < s->cfg->npreload; i++) {
        int idx = gs_config_find(s->cfg, s->cfg->preload[i]);
        if (idx >= 0) {
            gs_info("preloading %s (hooks.on_startup.preload)", s->cfg->models[idx].id);
            gs_proxy_load(s, NULL, idx);
        }
    }
}

void gs_server_service_start(gs_server *s)
{
    if (s->state == GS_SERVICE_RUNNING)
        return;
    s->state = GS_SERVICE_RUNNING;
    s->started_ms = gs_proc_now_ms();
    gs_info("service running: %d models, listening on %s", s->cfg->nmodels, s->listen);
    run_preload(s);
    publish_service(s);
}

int gs_server_reload(gs_server *s, char **msg)
{
    gs_config *cfg = NULL;
    gs_diag d = {0};
    int rc;
    if (msg)
        *msg = NULL;
    if (!s->config_path) {
        rc = -EINVAL;
        if (msg)
            *msg = gs_mem_strdup("no config file to reload");
        goto out;
    }
    rc = gs_config_load(s->config_path, &cfg, &d);
    if (d.n) {
        char *all = gs_diag_join(&d);
        if (rc < 0)
            gs_error("reload of %s failed; keeping the config in force:\n%s", s->config_path, all);
        else
            gs_warn("%s", all);
        if (msg && rc < 0)
            *msg = all;
        else
            free(all);
    }
    if (rc < 0) {
        if (msg && !*msg)
            *msg = gs_mem_printf("cannot load %s: %s", s->config_path, strerror(-rc));
        goto out;
    }
    gs_server_apply_config(s, cfg);
    gs_info("reloaded %s", s->config_path);
out:
    gs_diag_free(&d);
    return rc;
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

static bool authorized(gs_server *s, const gs_http_req *req)
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

/* Inference endpoints routed by the `model` of the request. */
static const char *const inference_paths[] = {
    "/v1/chat/completions", "/v1/completions",     "/v1/embeddings", "/v1/rerank",
    "/rerank",              "/v1/reranking",       "/reranking",     "/v1/responses",
    "/v1/messages",         "/v1/messages/count_tokens", "/v1/audio/speech",
    "/v1/audio/transcriptions", "/v1/audio/voices", "/v1/images/generations",
    "/v1/images/edits",     "/completion",         "/completions",   "/infill",
    "/embedding",           "/embeddings",         "/tokenize",      "/detokenize",
    "/props",               "/apply-template",
};

static bool is_inference(const char *path)
{
    for (size_t i = 0; i < GS_ARRAY_LEN(inference_paths); i++)
        if (strcmp(path, inference_paths[i]) == 0)
            return true;
    return false;
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

/* Apply useModelName, stripParams and setParams; returns a new body or NULL when unchanged. */
static char *rewrite_body(const gs_model_cfg *m, json_t *root, size_t *len)
{
    bool changed = false;
    if (m->use_model_name) {
        json_object_set_new(root, "model", json_string(m->use_model_name));
        changed = true;
    }
    for (int i = 0; i < m->nstrip; i++)
        if (json_object_del(root, m->strip_params[i]) == 0)
            changed = true;
    if (m->set_params && json_is_object(m->set_params)) {
        const char *k;
        json_t *v;
        json_object_foreach(m->set_params, k, v)
        {
            if (strcmp(k, "model") == 0)
                continue;
            json_object_set(root, k, v);
            changed = true;
        }
    }
    if (!changed)
        return NULL;
    char *out = json_dumps(root, JSON_COMPACT);
    *len = strlen(out);
    return out;
}

static void handle_inference(gs_server *s, gs_http_req *req)
{
    char *model = NULL, *body = NULL;
    size_t body_len = 0;
    json_t *root = NULL;
    if (s->state != GS_SERVICE_RUNNING) {
        gs_server_error(req, 503, "service_unavailable",
                        "the service is stopped; start it (POST /api/service/start or the page)");
        goto out;
    }
    const char *ctype = gs_http_header_get(req, "content-type");
    if (method_is(req, "GET") || method_is(req, "HEAD")) {
        model = query_param(req, "model");
    } else if (ctype && strncasecmp(ctype, "multipart/form-data", 19) == 0) {
        model = multipart_model(req, ctype);
    } else {
        json_error_t err;
        root = req->body.len ? json_loadb(req->body.data, req->body.len, 0, &err) : NULL;
        if (!root) {
            if (req->body.len)
                gs_server_error(req, 400, "invalid_json",
                                "request body is not valid JSON: %s (line %d, column %d)",
                                err.text, err.line, err.column);
            else
                gs_server_error(req, 400, "missing_model",
                                "request body is empty: send JSON with a \"model\" field");
            goto out;
        }
        json_t *mv = json_is_object(root) ? json_object_get(root, "model") : NULL;
        if (mv && json_is_string(mv))
            model = gs_mem_strdup(json_string_value(mv));
    }
    if (!model || !*model) {
        gs_server_error(req, 400, "missing_model",
                        "no model in the request: set \"model\" in the JSON body (or ?model= for "
                        "GET, or a model form field)");
        goto out;
    }
    int idx;
    if (!gs_server_find(s, model, &idx)) {
        char *names = known_names(s);
        gs_server_error(req, 404, "model_not_found", "model '%s' not found; known models: %s",
                        model, names);
        free(names);
        goto out;
    }
    if (root)
        body = rewrite_body(&s->cfg->models[idx], root, &body_len);
    gs_proxy_request(s, req, idx, req->url, body, body_len);
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
static void handle_upstream(gs_server *s, gs_http_req *req)
{
    const char *rest = req->url + strlen("/upstream/");
    char *dec = url_decode(rest, strcspn(rest, "?"), false);
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
        char *names = known_names(s);
        gs_server_error(req, 404, "model_not_found", "no model matches /upstream/%s; known: %s",
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
    const char *enc = rest;
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
        gs_server_error(req, 400, "bad_path", "dot segments are not allowed in /upstream paths");
        goto out;
    }
    if (s->state != GS_SERVICE_RUNNING) {
        gs_server_error(req, 503, "service_unavailable", "the service is stopped");
        goto out;
    }
    gs_proxy_request(s, req, best, upath, NULL, 0);
out:
    free(dec);
}

static void handle_models_list(gs_server *s, gs_http_req *req)
{
    json_t *data = json_array();
    uint64_t now = wall_ms() / 1000;
    for (int i = 0; i < s->cfg->nmodels; i++) {
        const gs_model_cfg *m = &s->cfg->models[i];
        if (m->unlisted)
            continue;
        for (int a = -1; a < m->naliases; a++) {
            json_t *o = json_object();
            json_object_set_new(o, "id", json_string(a < 0 ? m->id : m->aliases[a]));
            json_object_set_new(o, "object", json_string("model"));
            json_object_set_new(o, "created", json_integer((json_int_t)now));
            json_object_set_new(o, "owned_by", json_string("ggswap"));
            if (m->name)
                json_object_set_new(o, "name", json_string(m->name));
            if (m->description)
                json_object_set_new(o, "description", json_string(m->description));
            json_t *meta = gs_server_model_json(s, i);
            json_object_set_new(meta, "type", json_string(a < 0 ? "model" : "alias"));
            if (a >= 0)
                json_object_set_new(meta, "model", json_string(m->id));
            json_object_set_new(o, "status",
                                json_pack("{s:s}", "value",
                                          s->procs[i]->state == GS_PROC_READY ? "loaded"
                                                                              : "unloaded"));
            json_object_set_new(o, "meta", json_pack("{s:o}", "ggswap", meta));
            json_array_append_new(data, o);
        }
    }
    respond_json(req, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void handle_running(gs_server *s, gs_http_req *req)
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
    respond_json(req, 200, json_pack("{s:o}", "running", arr));
}

static void unload(gs_server *s, gs_proc *p)
{
    gs_proxy_fail_queued(s, p, 503, "the model was unloaded");
    gs_proxy_cancel_active(s, p, "the model was unloaded");
    gs_proc_stop(p, "unloaded on request");
}

static void handle_unload(gs_server *s, gs_http_req *req, const char *model)
{
    if (model && *model) {
        char *dec = url_decode(model, strlen(model), false);
        gs_proc *p = gs_server_find(s, dec, NULL);
        if (!p) {
            char *names = known_names(s);
            gs_server_error(req, 404, "model_not_found", "model '%s' not found; known models: %s",
                            dec, names);
            free(names);
            free(dec);
            return;
        }
        free(dec);
        unload(s, p);
    } else {
        for (int i = 0; i < s->cfg->nmodels; i++)
            unload(s, s->procs[i]);
    }
    if (path_is(req, "/unload"))
        respond_text(req, 200, "OK\n");
    else
        respond_json(req, 200, json_pack("{s:b, s:s}", "ok", 1, "msg", "ok"));
}

static void handle_load(gs_server *s, gs_http_req *req, const char *model)
{
    char *dec = url_decode(model, strlen(model), false);
    int idx;
    if (!gs_server_find(s, dec, &idx)) {
        char *names = known_names(s);
        gs_server_error(req, 404, "model_not_found", "model '%s' not found; known models: %s", dec,
                        names);
        free(names);
    } else if (s->state != GS_SERVICE_RUNNING) {
        gs_server_error(req, 503, "service_unavailable", "the service is stopped; start it first");
    } else {
        gs_proxy_load(s, req, idx);
    }
    free(dec);
}

static void handle_logs(gs_server *s, gs_http_req *req)
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
    if (which && *which && strcmp(which, "proxy") != 0) {
        filter = url_decode(which, strlen(which), false);
        gs_proc *p = gs_server_find(s, filter, NULL);
        if (!p) {
            gs_server_error(req, 404, "model_not_found", "no model '%s' to stream logs of",
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
            hist = gs_ring_dump(gs_log_proxy_ring(), NULL);
    }
    gs_events_add_log(s->events, req, filter, hist);
    free(hist);
    free(filter);
}

static void handle_events(gs_server *s, gs_http_req *req)
{
    gs_buf hello;
    gs_buf_init(&hello, 0);
    json_t *svc = gs_server_service_json(s);
    char *d = json_dumps(svc, JSON_COMPACT);
    gs_buf_printf(&hello, "retry: 2000\nevent: service\ndata: %s\n\n", d);
    free(d);
    json_decref(svc);
    uint64_t first = s->nhistory > GS_REQUEST_HISTORY ? s->nhistory - GS_REQUEST_HISTORY : 0;
    for (uint64_t i = first; i < s->nhistory; i++) {
        json_t *o = request_json(&s->history[i % GS_REQUEST_HISTORY]);
        d = json_dumps(o, JSON_COMPACT);
        gs_buf_printf(&hello, "event: request\ndata: %s\n\n", d);
        free(d);
        json_decref(o);
    }
    gs_events_add_sse(s->events, req, hello.data);
    gs_buf_free(&hello);
}

static void handle_requests(gs_server *s, gs_http_req *req)
{
    json_t *arr = json_array();
    uint64_t first = s->nhistory > GS_REQUEST_HISTORY ? s->nhistory - GS_REQUEST_HISTORY : 0;
    for (uint64_t i = first; i < s->nhistory; i++)
        json_array_append_new(arr, request_json(&s->history[i % GS_REQUEST_HISTORY]));
    respond_json(req, 200, json_pack("{s:o}", "requests", arr));
}

static void handle_metrics(gs_server *s, gs_http_req *req)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_buf_puts(&b, "# HELP ggswap_up 1 while the service is running.\n# TYPE ggswap_up gauge\n");
    gs_buf_printf(&b, "ggswap_up %d\n", s->state == GS_SERVICE_RUNNING);
    gs_buf_puts(&b, "# HELP ggswap_requests_total Proxied requests by status class.\n"
                    "# TYPE ggswap_requests_total counter\n");
    static const char *cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 6; i++)
        gs_buf_printf(&b, "ggswap_requests_total{class=\"%s\"} %llu\n", cls[i],
                      (unsigned long long)s->responses_by_class[i]);
    gs_buf_puts(&b, "# HELP ggswap_model_state 1 for the state each model is in.\n"
                    "# TYPE ggswap_model_state gauge\n");
    for (int i = 0; i < s->cfg->nmodels; i++)
        for (int st = GS_PROC_STOPPED; st <= GS_PROC_FAILED; st++)
            gs_buf_printf(&b, "ggswap_model_state{model=\"%s\",state=\"%s\"} %d\n",
                          s->procs[i]->id, gs_proc_state_name((gs_proc_state)st),
                          s->procs[i]->state == (gs_proc_state)st);
    gs_buf_puts(&b, "# HELP ggswap_model_inflight Requests in flight per model.\n"
                    "# TYPE ggswap_model_inflight gauge\n");
    for (int i = 0; i < s->cfg->nmodels; i++)
        gs_buf_printf(&b, "ggswap_model_inflight{model=\"%s\"} %d\n", s->procs[i]->id,
                      s->procs[i]->inflight);
    gs_buf_puts(&b, "# HELP ggswap_connections Open client connections.\n"
                    "# TYPE ggswap_connections gauge\n");
    gs_buf_printf(&b, "ggswap_connections %d\n", gs_http_server_connections(s->http));
    gs_http_respond(req, 200, "text/plain; version=0.0.4", b.data, b.len, NULL);
    gs_buf_free(&b);
}

static void handle_service(gs_server *s, gs_http_req *req, const char *action)
{
    if (!*action) {
        respond_json(req, 200, gs_server_service_json(s));
        return;
    }
    if (!method_is(req, "POST")) {
        gs_server_error(req, 405, "method_not_allowed", "use POST for /api/service/%s", action);
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
        rc = s->integrated && s->regenerate ? s->regenerate(s, &msg) : 0;
        if (rc == 0) {
            free(msg);
            msg = NULL;
            rc = gs_server_reload(s, &msg);
        }
        gs_server_service_start(s);
        if (rc == 0) {
            free(msg);
            msg = gs_mem_strdup("service restarted with the config reloaded");
        }
    } else if (strcmp(action, "regenerate") == 0) {
        int before = s->cfg->nmodels;
        if (s->regenerate)
            rc = s->regenerate(s, &msg);
        if (rc == 0) {
            free(msg);
            msg = NULL;
            rc = gs_server_reload(s, &msg);
        }
        if (rc == 0) {
            free(msg);
            msg = gs_mem_printf("config %s: %d models (was %d)",
                                s->integrated ? "regenerated" : "reloaded", s->cfg->nmodels,
                                before);
        }
    } else {
        json_decref(extra);
        gs_server_error(req, 404, "not_found",
                        "unknown service action '%s' (start, stop, restart, regenerate)", action);
        return;
    }
    if (rc == 0 && s->last_diff && (strcmp(action, "regenerate") == 0 ||
                                    strcmp(action, "restart") == 0))
        json_object_update(extra, s->last_diff);
    if (rc < 0) {
        json_decref(extra);
        gs_server_error(req, 500, "service_action_failed", "%s failed: %s", action,
                        msg ? msg : strerror(-rc));
        free(msg);
        publish_service(s);
        return;
    }
    json_object_set_new(extra, "ok", json_true());
    json_object_set_new(extra, "state",
                        json_string(s->state == GS_SERVICE_RUNNING ? "running" : "stopped"));
    json_object_set_new(extra, "message", json_string(msg ? msg : "ok"));
    free(msg);
    respond_json(req, 200, extra);
    publish_service(s);
}

static void handle_ui(gs_server *s, gs_http_req *req)
{
    const char *rest = req->path + 3; /* after "/ui" */
    if (*rest == 0) {
        gs_http_respond(req, 301, NULL, NULL, 0, "Location: /ui/\r\n");
        return;
    }
    rest++;
    const gs_webui_file *f = gs_webui_find(rest);
    if (!f) {
        gs_server_error(req, 404, "not_found", "no such file in the page: /ui/%s", rest);
        return;
    }
    gs_http_respond(req, 200, f->mime, f->data, f->len,
                    "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n");
}

void gs_server_handle(gs_http_req *req, void *ud)
{
    gs_server *s = ud;
    const char *path = req->path;
    if (path_is(req, "/health")) {
        respond_text(req, 200, "OK\n");
        return;
    }
    if (s->cfg->napi_keys && !authorized(s, req)) {
        gs_server_error(req, 401, "unauthorized", "missing or wrong API key");
        return;
    }
    if (is_inference(path) && (method_is(req, "POST") || method_is(req, "GET"))) {
        handle_inference(s, req);
    } else if (strncmp(path, "/upstream/", 10) == 0) {
        handle_upstream(s, req);
    } else if (path_is(req, "/")) {
        gs_http_respond(req, 302, NULL, NULL, 0, "Location: /ui/\r\n");
    } else if (path_is(req, "/ui") || strncmp(path, "/ui/", 4) == 0) {
        handle_ui(s, req);
    } else if (path_is(req, "/v1/models") || path_is(req, "/models")) {
        handle_models_list(s, req);
    } else if (path_is(req, "/running")) {
        handle_running(s, req);
    } else if (path_is(req, "/unload") || path_is(req, "/api/models/unload")) {
        handle_unload(s, req, NULL);
    } else if (strncmp(path, "/api/models/unload/", 19) == 0 && method_is(req, "POST")) {
        handle_unload(s, req, path + 19);
    } else if (strncmp(path, "/api/models/load/", 17) == 0 && method_is(req, "POST")) {
        handle_load(s, req, path + 17);
    } else if (path_is(req, "/logs")) {
        handle_logs(s, req);
    } else if (path_is(req, "/logs/stream") || strncmp(path, "/logs/stream/", 13) == 0) {
        handle_log_stream(s, req, path[12] ? path + 13 : NULL);
    } else if (path_is(req, "/api/events")) {
        handle_events(s, req);
    } else if (path_is(req, "/api/requests")) {
        handle_requests(s, req);
    } else if (path_is(req, "/metrics")) {
        handle_metrics(s, req);
    } else if (path_is(req, "/api/service")) {
        handle_service(s, req, "");
    } else if (strncmp(path, "/api/service/", 13) == 0) {
        handle_service(s, req, path + 13);
    } else if (path_is(req, "/api/version")) {
        respond_json(req, 200, json_pack("{s:s}", "version", GS_VERSION));
    } else if (method_is(req, "OPTIONS")) {
        gs_http_respond(req, 204, NULL, NULL, 0, "Allow: GET, POST, OPTIONS\r\n");
    } else {
        gs_server_error(req, 404, "not_found", "no route for %s %s", req->method, path);
    }
}

/* ---- signals, watching, shutdown ---- */

static void on_hup(uv_signal_t *h, int sig)
{
    gs_server *s = h->data;
    gs_info("SIGHUP: %s", s->integrated ? "regenerating the config" : "reloading the config");
    char *msg = NULL;
    int rc = s->integrated && s->regenerate ? s->regenerate(s, &msg) : 0;
    free(msg);
    msg = NULL;
    if (rc == 0)
        gs_server_reload(s, &msg);
    free(msg);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static bool children_gone(gs_server *s)
{
    for (int i = 0; i < s->cfg->nmodels; i++)
        if (gs_proc_alive(s->procs[i]))
            return false;
    for (int i = 0; i < s->nretired; i++)
        if (gs_proc_alive(s->retired[i]))
            return false;
    return true;
}

static void final_close(gs_server *s)
{
    if (s->http)
        gs_http_server_close(s->http);
    s->http = NULL;
    free_procs(s);
    for (int i = 0; i < s->nretired; i++)
        gs_proc_free(s->retired[i]);
    s->nretired = 0;
    gs_log_set_sink(NULL, NULL);
    gs_events_free(s->events);
    s->events = NULL;
    /* Signal watchers, timers, the config poll: close whatever is left so the loop ends. */
    uv_walk(s->loop, close_walk, NULL);
}

/* Every 50 ms while shutting down: requests in flight get up to 10 s, children then get
 * SIGTERM and up to 10 s more (their own stop escalation kills them after 5 s), then SIGKILL.
 * The loop ends only once every child is gone, so nothing is left behind or leaked. */
static void shutdown_tick(uv_timer_t *t)
{
    gs_server *s = t->data;
    s->shutdown_ticks++;
    if (s->active && s->shutdown_ticks < 200 && !s->shutdown_forced)
        return;
    if (s->active)
        gs_proxy_cancel_active(s, NULL, "ggswap is shutting down");
    for (int i = 0; i < s->cfg->nmodels; i++)
        gs_proc_stop(s->procs[i], "ggswap is shutting down");
    for (int i = 0; i < s->nretired; i++)
        gs_proc_stop(s->retired[i], "ggswap is shutting down");
    if (s->shutdown_forced || s->shutdown_ticks > 400) {
        for (int i = 0; i < s->cfg->nmodels; i++)
            gs_proc_kill(s->procs[i]);
        for (int i = 0; i < s->nretired; i++)
            gs_proc_kill(s->retired[i]);
    }
    if (children_gone(s) || s->shutdown_ticks > 600) {
        uv_timer_stop(t);
        final_close(s);
    }
}

void gs_server_shutdown(gs_server *s)
{
    if (s->shutting_down) {
        /* A second signal: no more waiting for requests or polite stops. */
        gs_info("second signal: cutting requests and killing models now");
        s->shutdown_forced = true;
        return;
    }
    s->shutting_down = true;
    gs_info("shutting down: no new connections; letting requests in flight finish");
    if (s->http)
        gs_http_server_stop_listening(s->http);
    gs_proxy_fail_queued(s, NULL, 503, "ggswap is shutting down");
    gs_events_close_all(s->events);
    uv_timer_init(s->loop, &s->shutdown_timer);
    s->shutdown_timer.data = s;
    uv_timer_start(&s->shutdown_timer, shutdown_tick, 0, 50);
}

static void on_term(uv_signal_t *h, int sig)
{
    gs_server *s = h->data;
    gs_info("signal %d received", sig);
    gs_server_shutdown(s);
}

static void watch_cb(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    gs_server *s = h->data;
    if (status < 0)
        return;
    gs_info("config file %s changed; reloading", s->config_path);
    gs_server_reload(s, NULL);
}

void gs_server_watch_config(gs_server *s)
{
    if (!s->config_path || s->watching)
        return;
    uv_fs_poll_init(s->loop, &s->watch);
    s->watch.data = s;
    /* Polling (like llama-swap) survives editors that replace the file and bind mounts. */
    if (uv_fs_poll_start(&s->watch, watch_cb, s->config_path, 1000) == 0)
        s->watching = true;
}

static void log_sink(const char *source, const char *line, size_t len, void *ud)
{
    gs_server *s = ud;
    gs_events_log_line(s->events, source, line, len);
}

int gs_server_start(gs_server *s, uv_loop_t *loop, gs_config *cfg, const char *listen)
{
    int rc;
    s->loop = loop;
    s->listen = gs_mem_strdup(listen);
    uv_timer_init(loop, &s->retry_timer);
    s->retry_timer.data = s;
    s->events = gs_events_new(loop);
    gs_log_set_sink(log_sink, s);
    gs_server_apply_config(s, cfg);
    rc = gs_http_server_start(loop, listen, NULL, gs_server_handle, s, &s->http);
    if (rc < 0) {
        gs_error("cannot listen on %s: %s (is another ggswap or llama-swap running? use --listen)",
                 listen, uv_strerror(rc));
        goto out;
    }
    uv_signal_init(loop, &s->sig_term);
    uv_signal_init(loop, &s->sig_int);
    uv_signal_init(loop, &s->sig_hup);
    s->sig_term.data = s->sig_int.data = s->sig_hup.data = s;
    uv_signal_start(&s->sig_term, on_term, SIGTERM);
    uv_signal_start(&s->sig_int, on_term, SIGINT);
    uv_signal_start(&s->sig_hup, on_hup, SIGHUP);
    gs_info("listening on http://%s (%d models; page at /ui/)", listen, cfg->nmodels);
    gs_server_service_start(s);
out:
    return rc;
}

void gs_server_cleanup(gs_server *s)
{
    for (int i = 0; i < s->nold_configs; i++)
        gs_config_free(s->old_configs[i]);
    free(s->old_configs);
    gs_config_free(s->cfg);
    s->cfg = NULL;
    gs_server_set_problems(s, NULL, 0);
    for (int i = 0; i < s->nmodels_dirs; i++)
        free(s->models_dirs[i]);
    free(s->models_dirs);
    free(s->retired);
    free(s->llama_server);
    free(s->listen);
    free(s->config_path);
    json_decref(s->last_diff);
}
