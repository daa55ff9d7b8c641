/* pullapi: downloads, Hub search, model-file deletion and watched folders (see pullapi.h). */
#include "pullapi.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "buf.h"
#include "download.h"
#include "events.h"
#include "fetch.h"
#include "gen.h"
#include "hub.h"
#include "log.h"
#include "mem.h"
#include "memdev.h"
#include "names.h"
#include "server.h"
#include "watch.h"

#define HUB_BODY_MAX (16u << 20)
#define KEEP_FINISHED 50

/* ---- helpers ---- */

static int hexv(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static char *decode(const char *s, size_t n)
{
    char *o = gs_mem_alloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            o[k++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        } else {
            o[k++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    o[k] = 0;
    return o;
}

static char *qparam(const gs_http_req *req, const char *name)
{
    size_t nl = strlen(name);
    for (const char *q = req->query; q && *q;) {
        size_t len = strcspn(q, "&");
        if (len > nl && strncmp(q, name, nl) == 0 && q[nl] == '=')
            return decode(q + nl + 1, len - nl - 1);
        q += len + (q[len] == '&');
    }
    return NULL;
}

static void url_escape(gs_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            gs_buf_append(b, p, 1);
        else
            gs_buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
}

int64_t gs_pullapi_need(int64_t file_size)
{
    if (file_size < 0)
        return -1;
    /* The weights, plus a KV cache and compute buffers for a modest context: a tenth more and
     * 512 MiB. A first guess for the page; the scheduler uses memest's figures once it is here. */
    return file_size + file_size / 10 + (512LL << 20);
}

/* ---- downloads ---- */

static void on_change(gs_dl_job *j, void *ud)
{
    gs_server *s = ud;
    json_t *o = gs_dl_job_json(j);
    char *txt = json_dumps(o, JSON_COMPACT);
    if (txt && s->events)
        gs_events_publish(s->events, "download", txt);
    free(txt);
    json_decref(o);
    if (gs_dl_job_state(j) == GS_DL_DONE && s->folders)
        gs_watch_poke(s->folders); /* the rename also makes an fs event; this is the sure way */
}

static void folders_changed(void *ud)
{
    gs_server *s = ud;
    if (!s->integrated || !s->regenerate || gs_server_shutting_down(s))
        return;
    char *msg = NULL;
    int before = s->cfg->nmodels;
    int rc = gs_server_regenerate(s, &msg);
    if (rc < 0)
        gs_warn("the model folders changed, but updating the models failed: %s",
                msg ? msg : strerror(-rc));
    else
        gs_info("the model folders changed: %d models (were %d)", s->cfg->nmodels, before);
    free(msg);
    if (s->folders)
        gs_watch_set_dirs(s->folders, s->models_dirs, s->nmodels_dirs);
    gs_server_publish_service(s);
}

void gs_pullapi_attach(gs_server *s)
{
    gs_settings st;
    gs_settings_init(&st);
    gs_diag d = {0};
    char *home = gs_gen_home(s->home); /* --home, else $GGSWAP_HOME, else ~/.clara/ggswap */
    char *sp = gs_mem_printf("%s/settings.yaml", home);
    gs_settings_load(sp, &st, &d);
    gs_diag_free(&d);
    const char *env_tok = getenv("HF_TOKEN");
    bool use_env = env_tok && *env_tok;
    gs_dl_opts o = {
        .token = use_env ? env_tok : st.hf_token,
        .token_from = use_env ? "$HF_TOKEN" : "hfToken in settings.yaml",
        .on_change = on_change,
        .ud = s,
    };
    s->downloads = gs_dl_mgr_new(s->loop, &o);
    gs_settings_free(&st);
    free(sp);
    free(home);
    if (s->integrated && s->nmodels_dirs > 0) {
        const char *e = getenv("GGSWAP_WATCH_DEBOUNCE_MS");
        s->folders = gs_watch_new(s->loop, e ? (unsigned)atoi(e) : 0, folders_changed, s);
        gs_watch_set_dirs(s->folders, s->models_dirs, s->nmodels_dirs);
    }
}

void gs_pullapi_detach(gs_server *s)
{
    gs_dl_mgr_free(s->downloads);
    s->downloads = NULL;
    gs_watch_free(s->folders);
    s->folders = NULL;
}

/* Routes can be reached before (or without) gs_pullapi_attach: a server under test, or one
 * shutting down. */
static bool ready(gs_server *s, gs_http_req *req)
{
    if (s->downloads)
        return true;
    gs_api_error(req, 503, "unavailable", "downloads are not available in this ggswap now");
    return false;
}

static bool dir_allowed(gs_server *s, const char *dir)
{
    for (int i = 0; i < s->nmodels_dirs; i++)
        if (strcmp(s->models_dirs[i], dir) == 0)
            return true;
    return false;
}

void gs_pullapi_handle_pull(gs_server *s, gs_http_req *req, const char *rest)
{
    if (!ready(s, req))
        return;
    if (strcmp(req->method, "POST") != 0) {
        gs_api_error(req, 405, "method_not_allowed", "use POST for /api/models/pull");
        return;
    }
    json_error_t je;
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, &je);
    const char *ref = json_string_value(json_object_get(body, "ref"));
    const char *quant = json_string_value(json_object_get(body, "quant"));
    const char *dir = json_string_value(json_object_get(body, "dir"));
    if (!ref) {
        gs_api_error(req, 400, "invalid_request",
                     "the body must be JSON with \"ref\" (like {\"ref\":\"org/repo:Q4_K_M\"})");
        goto out;
    }
    if (s->nmodels_dirs == 0) {
        gs_api_error(req, 409, "no_model_folder",
                     "this ggswap serves a hand-written config and has no model folder to pull "
                     "into; use `ggswap pull REF --models-dir DIR` or serve without --config");
        goto out;
    }
    if (dir && !dir_allowed(s, dir)) {
        gs_api_error(req, 400, "invalid_request",
                     "\"dir\" must be one of the model folders (see /api/service); got %s", dir);
        goto out;
    }
    if (!dir) {
        dir = s->models_dirs[0];
        mkdir(dir, 0755);
    }
    gs_dl_prune(s->downloads, KEEP_FINISHED);
    gs_dl_job *j = NULL;
    char err[900];
    if (gs_dl_pull(s->downloads, ref, quant, dir, &j, err, sizeof err) < 0) {
        gs_api_error(req, 400, "invalid_request", "%s", err);
        goto out;
    }
    gs_api_respond_json(req, 202, gs_dl_job_json(j));
    on_change(j, s);
out:
    json_decref(body);
}

void gs_pullapi_handle_downloads(gs_server *s, gs_http_req *req, const char *rest)
{
    if (!ready(s, req))
        return;
    bool del = strcmp(req->method, "DELETE") == 0;
    if (*rest == '/')
        rest++;
    if (!*rest) {
        if (del) {
            gs_api_error(req, 405, "method_not_allowed", "DELETE /api/downloads/<id> cancels one");
            return;
        }
        gs_api_respond_json(req, 200,
                            json_pack("{s:o}", "downloads", gs_dl_list_json(s->downloads)));
        return;
    }
    if (del) {
        int rc = gs_dl_cancel(s->downloads, rest);
        if (rc == -ENOENT)
            gs_api_error(req, 404, "not_found", "no download %s (see GET /api/downloads)", rest);
        else if (rc == -EALREADY)
            gs_api_error(req, 409, "already_finished", "download %s has already finished", rest);
        else
            gs_api_respond_json(req, 200, json_pack("{s:b,s:s,s:s}", "ok", 1, "id", rest,
                                                    "state", "cancelled"));
        return;
    }
    json_t *all = gs_dl_list_json(s->downloads);
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "id")), rest) == 0) {
            gs_api_respond_json(req, 200, json_incref(e));
            json_decref(all);
            return;
        }
    }
    json_decref(all);
    gs_api_error(req, 404, "not_found", "no download %s (see GET /api/downloads)", rest);
}

/* ---- the Hub, for the page ---- */

typedef struct hub_q {
    gs_server *s;
    gs_http_req *req;
    gs_fetch_req *fr;
    gs_buf body;
    bool files;          /* a tree listing (else a search) */
    char repo[200];
} hub_q;

static void hub_q_free(hub_q *q)
{
    gs_buf_free(&q->body);
    free(q);
}

static void hub_abort(gs_http_req *req, void *ud)
{
    hub_q *q = ud;
    gs_fetch_cancel(q->fr);
    hub_q_free(q);
}

static int hub_data(gs_fetch_req *r, const char *data, size_t len, void *ud)
{
    hub_q *q = ud;
    return gs_buf_append(&q->body, data, len);
}

static uint64_t machine_total(void)
{
    gs_memdevs devs;
    gs_memdev_probe(&devs);
    uint64_t t = 0;
    for (int i = 0; i < devs.n; i++)
        t += devs.dev[i].total;
    return t;
}

static json_t *files_json(hub_q *q)
{
    gs_hub_file *f = NULL;
    int n = 0;
    if (gs_hub_tree_parse(q->body.data ? q->body.data : "", q->body.len, &f, &n) < 0)
        return NULL;
    uint64_t total = machine_total();
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const char *name = gs_hub_local_name(f[i].path);
        if (!name)
            continue;
        int part = 0, parts = 0;
        bool split = gs_names_split_part(name, &part, &parts);
        char *qt = gs_names_quant_from_file(name);
        bool here = false;
        for (int k = 0; k < q->s->nmodels_dirs && !here; k++) {
            char *p = gs_mem_printf("%s/%s", q->s->models_dirs[k], name);
            struct stat st;
            here = stat(p, &st) == 0;
            free(p);
        }
        int64_t need = gs_pullapi_need(f[i].size);
        json_t *o = json_pack("{s:s,s:s,s:I,s:s?,s:b,s:b,s:I}", "path", f[i].path, "file", name,
                              "size", (json_int_t)f[i].size, "quant", qt,
                              "mmproj", gs_hub_is_mmproj(name), "local", here,
                              "need", (json_int_t)need);
        if (split)
            json_object_set_new(o, "part", json_pack("{s:i,s:i}", "part", part, "of", parts));
        if (total > 0 && need >= 0)
            json_object_set_new(o, "fits", json_boolean((uint64_t)need <= total));
        json_array_append_new(arr, o);
        free(qt);
    }
    gs_hub_files_free(f, n);
    return json_pack("{s:s,s:o,s:{s:I,s:s}}", "repo", q->repo, "files", arr, "memory", "total",
                     (json_int_t)total, "how",
                     "file size plus a tenth and 512 MiB, against the RAM and GPU memory this "
                     "machine has");
}

static void hub_done(gs_fetch_req *r, int rc, const char *msg, const gs_fetch_info *in, void *ud)
{
    hub_q *q = ud;
    gs_http_req *req = q->req;
    req->on_abort = NULL;
    req->ud = NULL;
    const char *what = q->files ? q->repo : "the model search";
    if (rc == GS_FETCH_ENET) {
        gs_api_error(req, 502, "hub_unreachable", "cannot reach the Hub at %s (%s): check the "
                     "network connection", gs_dl_mgr_endpoint(q->s->downloads), msg ? msg : "");
    } else if (rc < 0) {
        gs_api_error(req, 502, "hub_failed", "asking the Hub for %s failed: %s", what,
                     msg ? msg : "?");
    } else if (in->status < 200 || in->status > 299) {
        char err[900];
        json_t *o = json_loadb(q->body.data ? q->body.data : "", q->body.len, 0, NULL);
        gs_hub_http_error(in->status, in->error_code[0] ? in->error_code : NULL,
                          json_string_value(json_object_get(o, "error")), what,
                          gs_dl_mgr_token(q->s->downloads) != NULL, err, sizeof err);
        json_decref(o);
        gs_api_error(req, in->status == 404 ? 404 : 502,
                     in->status == 404 ? "not_found" : "hub_failed", "%s", err);
    } else if (q->files) {
        json_t *o = files_json(q);
        if (o)
            gs_api_respond_json(req, 200, o);
        else
            gs_api_error(req, 502, "hub_failed", "the Hub's file list for %s is not JSON",
                         q->repo);
    } else {
        char *red = gs_hub_search_reduce(q->body.data ? q->body.data : "", q->body.len, 30);
        if (red) {
            json_t *arr = json_loads(red, 0, NULL);
            gs_api_respond_json(req, 200, json_pack("{s:o}", "models", arr));
            free(red);
        } else {
            gs_api_error(req, 502, "hub_failed", "the Hub's search answer is not a JSON list");
        }
    }
    hub_q_free(q);
}

void gs_pullapi_handle_hub(gs_server *s, gs_http_req *req, const char *rest)
{
    if (!ready(s, req))
        return;
    bool files = strcmp(rest, "files") == 0;
    if (!files && strcmp(rest, "search") != 0) {
        gs_api_error(req, 404, "not_found", "use /api/hub/search?q=... or /api/hub/files?repo=...");
        return;
    }
    char *arg = qparam(req, files ? "repo" : "q");
    gs_buf u;
    gs_buf_init(&u, 8192);
    const char *ep = gs_dl_mgr_endpoint(s->downloads);
    hub_q *q = NULL;
    if (files) {
        gs_hub_ref r;
        char err[600];
        if (!arg || gs_hub_parse_ref(arg, NULL, ep, &r, err, sizeof err) < 0 ||
            r.kind != GS_HUB_REF_REPO) {
            gs_api_error(req, 400, "invalid_request", "repo=org/repo is needed%s%s",
                         arg ? ": " : "", arg ? err : "");
            goto out;
        }
        gs_buf_printf(&u, "%s/api/models/%s/tree/%s?recursive=true", ep, r.repo, r.rev);
        q = gs_mem_calloc(1, sizeof *q);
        snprintf(q->repo, sizeof q->repo, "%s", r.repo);
    } else {
        if (!arg || !*arg || strlen(arg) > 200) {
            gs_api_error(req, 400, "invalid_request", "q=<words> is needed (at most 200 bytes)");
            goto out;
        }
        gs_buf_printf(&u, "%s/api/models?search=", ep);
        url_escape(&u, arg);
        gs_buf_puts(&u, "&filter=gguf&sort=downloads&direction=-1&limit=30");
        q = gs_mem_calloc(1, sizeof *q);
    }
    q->s = s;
    q->req = req;
    q->files = files;
    gs_buf_init(&q->body, HUB_BODY_MAX);
    gs_fetch_opts o = {.url = u.data, .bearer = gs_dl_mgr_token(s->downloads), .stall_s = 20,
                       .on_data = hub_data, .on_done = hub_done, .ud = q};
    int rc = gs_fetch_start(gs_dl_mgr_fetch(s->downloads), &o, &q->fr);
    if (rc < 0) {
        hub_q_free(q);
        gs_api_error(req, 500, "internal", "cannot ask the Hub: %s", gs_fetch_strerror(rc));
        goto out;
    }
    req->ud = q;
    req->on_abort = hub_abort;
out:
    free(arg);
    gs_buf_free(&u);
}

/* ---- deleting a model's file ---- */

static const char *model_path(const gs_model_cfg *m)
{
    for (int i = 0; i + 1 < m->argc; i++)
        if (strcmp(m->argv[i], "-m") == 0 || strcmp(m->argv[i], "--model") == 0)
            return m->argv[i + 1];
    return NULL;
}

static bool inside_models_dir(gs_server *s, const char *path)
{
    char *rp = realpath(path, NULL);
    bool ok = false;
    for (int i = 0; rp && i < s->nmodels_dirs && !ok; i++) {
        char *rd = realpath(s->models_dirs[i], NULL);
        size_t n = rd ? strlen(rd) : 0;
        ok = rd && strncmp(rp, rd, n) == 0 && rp[n] == '/';
        free(rd);
    }
    free(rp);
    return ok;
}

void gs_pullapi_handle_delete_file(gs_server *s, gs_http_req *req, const char *rest)
{
    if (strcmp(req->method, "DELETE") != 0) {
        gs_api_error(req, 405, "method_not_allowed", "use DELETE /api/models/file/<model>");
        return;
    }
    char *name = decode(rest, strlen(rest));
    int idx = -1;
    gs_proc *p = gs_server_find(s, name, &idx);
    const char *path = p && idx >= 0 ? model_path(&s->cfg->models[idx]) : NULL;
    if (!p || idx < 0) {
        gs_api_error(req, 404, "not_found", "no model %s", name);
    } else if (!path || !s->integrated || !inside_models_dir(s, path)) {
        gs_api_error(req, 409, "not_deletable",
                     "%s's file is not in a model folder ggswap manages; delete it yourself",
                     name);
    } else {
        gs_proc_stop(p, "its file is being deleted");
        json_t *gone = json_array();
        /* A split model goes whole: every "-0000k-of-0000N" sibling. */
        int part, total;
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (gs_names_split_part(base, &part, &total)) {
            size_t pl = strlen(path);
            for (int k = 1; k <= total && pl > 20; k++) {
                char *sib = gs_mem_printf("%.*s-%05d-of-%05d.gguf", (int)(pl - 20), path, k,
                                          total);
                if (unlink(sib) == 0)
                    json_array_append_new(gone, json_string(sib));
                free(sib);
            }
        } else if (unlink(path) == 0) {
            json_array_append_new(gone, json_string(path));
        }
        if (json_array_size(gone) == 0) {
            json_decref(gone);
            gs_api_error(req, 500, "delete_failed", "cannot delete %s: %s", path,
                         strerror(errno));
        } else {
            gs_info("deleted %s's file %s (asked through the API)", name, path);
            gs_api_respond_json(req, 200, json_pack("{s:b,s:s,s:o}", "ok", 1, "model", name,
                                                    "deleted", gone));
            if (s->folders)
                gs_watch_poke(s->folders);
        }
    }
    free(name);
}
