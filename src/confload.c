#include "confload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "names.h"
#include "strv.h"

#define TIMEOUT_MAX (86400 * 365)

void gs_confload_scope(gs_confld *L, const gs_macro_scope *mx)
{
    L->mx = mx;
    L->y.expand = mx ? gs_macros_hook : NULL;
    L->y.expand_ud = (void *)mx;
}

void gs_confload_ref(gs_confld *L, gs_confref *r, const gs_yaml_kv *e, const char *key)
{
    r->val = e->val;
    r->line = e->line;
    r->set = !gs_yaml_is_null(gs_yaml_deref(&L->y, e->val, e->line, key));
}

bool gs_confload_name_ok(const char *s, size_t n)
{
    return n == 0 || !gs_names_invalid(s, n);
}

/* ---------------------------------------------------------------- lookups */

/* The peer whose "peer/model" is exactly name, or -1. */
int gs_confload_peer_fqn(const gs_config *c, const char *name, const char **model)
{
    for (int i = 0; i < c->npeers; i++) {
        size_t il = strlen(c->peers[i].id);
        if (strncmp(name, c->peers[i].id, il) || name[il] != '/')
            continue;
        for (int j = 0; j < c->peers[i].nmodels; j++)
            if (!strcmp(name + il + 1, c->peers[i].models[j])) {
                if (model)
                    *model = c->peers[i].models[j];
                return i;
            }
    }
    return -1;
}

int gs_confload_find(const gs_config *c, const char *name)
{
    if (!c || !name)
        return -1;
    int lo = 0, hi = c->nmodels - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int r = strcmp(name, c->models[mid].id);
        if (!r)
            return mid;
        if (r < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    for (int i = 0; i < c->nmodels; i++)
        for (int j = 0; j < c->models[i].naliases; j++)
            if (!strcmp(name, c->models[i].aliases[j]))
                return i;
    return -1;
}

int gs_confload_find_peer(const gs_config *c, const char *name, const char **model)
{
    if (!c || !name)
        return -1;
    int p = gs_confload_peer_fqn(c, name, model);
    if (p >= 0)
        return p;
    int found = -1;
    for (int i = 0; i < c->npeers; i++)
        for (int j = 0; j < c->peers[i].nmodels; j++)
            if (!strcmp(name, c->peers[i].models[j])) {
                if (found >= 0)
                    return -1; /* two peers list it: only "peer/model" reaches it */
                found = i;
                if (model)
                    *model = c->peers[i].models[j];
            }
    return found;
}

int gs_confload_find_selector(const gs_config *c, const char *name)
{
    for (int i = 0; c && name && i < c->nselectors; i++)
        if (!strcmp(c->selectors[i].id, name))
            return i;
    return -1;
}

int gs_confload_find_profile(const gs_config *c, const char *name)
{
    for (int i = 0; c && name && i < c->nprofiles; i++)
        if (!strcmp(c->profiles[i].id, name))
            return i;
    return -1;
}

/* ---------------------------------------------------------------- proxy URLs */

const char *gs_confload_proxy(char *url, bool allow_https, bool *tls, char **host, int *port,
                              char **path)
{
    free(*host);
    *host = NULL;
    *port = 0;
    free(*path);
    *path = NULL;
    bool https = strncasecmp(url, "https://", 8) == 0;
    if (tls)
        *tls = https;
    if (https && !allow_https)
        return "only http:// upstreams are supported";
    if (!https && strncasecmp(url, "http://", 7) != 0)
        return allow_https ? "invalid proxy URL: expected http:// or https://"
                           : "invalid proxy URL: expected http://HOST:PORT";
    size_t skip = https ? 8 : 7;
    const char *h = url + skip, *he, *rest;
    if (*h == '[') {
        he = strchr(h, ']');
        if (!he || he == h + 1)
            return "invalid proxy URL: bad IPv6 address";
        rest = he + 1;
        h++;
    } else {
        he = h + strcspn(h, ":/?#");
        rest = he;
    }
    if (he == h)
        return "invalid proxy URL: no host";
    for (const char *p = h; p < he; p++)
        if (*p == ' ' || *p == '@' || (unsigned char)*p < 0x20)
            return "invalid proxy URL: bad host";
    long pv = https ? 443 : 80;
    if (*rest == ':') {
        char *end;
        errno = 0;
        pv = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || errno || pv < 1 || pv > 65535 || (*end && *end != '/'))
            return "invalid proxy URL: bad port";
        rest = end;
    }
    if (*rest && *rest != '/')
        return "invalid proxy URL";
    if (strpbrk(rest, " ?#"))
        return "invalid proxy URL: no query, fragment or spaces allowed";
    size_t ul = strlen(url);
    while (ul > skip && url[ul - 1] == '/')
        url[--ul] = 0;
    *host = gs_mem_strndup(h, (size_t)(he - h));
    *port = (int)pv;
    *path = gs_mem_strdup(rest); /* "" or "/base", trailing slashes gone */
    return NULL;
}


void gs_confload_timeouts_default(gs_timeouts_cfg *t, int response_header)
{
    *t = (gs_timeouts_cfg){30, 30, response_header, 10, 1, 90};
}

#define TIMEOUT(name, field) \
    {name, GS_YT_INT, offsetof(gs_timeouts_cfg, field), 0, TIMEOUT_MAX, 0, NULL, 0}
static const gs_yaml_key timeout_keys[] = {
    TIMEOUT("connect", connect),
    TIMEOUT("keepalive", keepalive),
    TIMEOUT("responseHeader", response_header),
    TIMEOUT("tlsHandshake", tls_handshake),
    TIMEOUT("expectContinue", expect_continue),
    TIMEOUT("idleConn", idle_conn),
};

void gs_confload_timeouts(gs_confld *L, const gs_yaml_kv *e, const char *key,
                          gs_timeouts_cfg *t)
{
    gs_yaml_apply(&L->y, timeout_keys, GS_ARRAY_LEN(timeout_keys), e->val, e->line, key,
                  "of connect, keepalive, responseHeader, tlsHandshake, expectContinue, "
                  "idleConn (seconds)",
                  t, L);
}

/* ---------------------------------------------------------------- filters */

/* Add the comma-separated names of `list`, trimmed, without duplicates and never "model". */
static void add_strip(char ***strip, int *nstrip, const char *list)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *s = p, *e = p + n;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\n'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n'))
            e--;
        if (e > s && !(e - s == 5 && memcmp(s, "model", 5) == 0)) {
            bool dup = false;
            for (int i = 0; i < *nstrip && !dup; i++)
                dup = strlen((*strip)[i]) == (size_t)(e - s) &&
                      memcmp((*strip)[i], s, (size_t)(e - s)) == 0;
            if (!dup)
                gs_strv_push(strip, nstrip, gs_mem_strndup(s, (size_t)(e - s)));
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

/* A params mapping as JSON, "model" dropped with a warning (it routes the request). */
static json_t *params_json(gs_confld *L, struct fy_node *v, int line, const char *key)
{
    if (!fy_node_is_mapping(v)) {
        gs_yaml_err(&L->y, line, key, "expected a mapping of parameter names to values");
        return NULL;
    }
    json_t *o = gs_macros_json(L->mx, v, 1, line, key);
    if (o && json_object_get(o, "model")) {
        struct fy_node *mk = fy_node_mapping_lookup_key_by_string(v, "model", 5);
        char *pk = gs_yaml_path_join(key, "model");
        gs_yaml_warn(&L->y, mk ? gs_yaml_line(mk) : line, pk,
                     "the model name cannot be set here, ignored (see useModelName)");
        free(pk);
        json_object_del(o, "model");
    }
    return o;
}

/* filters.setParamsByID: requested name -> params. Keys take macros (${MODEL_ID}). */
static json_t *params_by_id(gs_confld *L, const gs_yaml_kv *e, const char *key)
{
    struct fy_node *v =
        gs_yaml_map(&L->y, e->val, e->line, key, "of requested names to parameters");
    if (!v)
        return NULL;
    json_t *all = json_object();
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, v, key, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        char *ik = gs_yaml_path_join(key, f->key);
        char *name = gs_macros_expand(L->mx, f->key, f->line, ik, false);
        struct fy_node *pv = gs_yaml_deref(&L->y, f->val, f->line, ik);
        if (!name) {
            /* reported */
        } else if (!*name || !gs_confload_name_ok(name, strlen(name))) {
            gs_yaml_err(&L->y, f->line, ik, "a name must be non-empty, without control "
                                            "characters, quotes or backslashes");
        } else if (json_object_get(all, name)) {
            gs_yaml_err(&L->y, f->line, ik, "keys %s and %s resolve to the same name", f->key,
                        name);
        } else {
            json_t *o = gs_yaml_is_null(pv) ? json_object() : params_json(L, pv, f->line, ik);
            if (o)
                json_object_set_new(all, name, o);
        }
        free(name);
        free(ik);
    }
    gs_yaml_kvs_free(&items);
    return all;
}

static void strip_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_conffilters *F = base;
    gs_confld *L = ud;
    struct fy_node *v = gs_yaml_deref(y, e->val, e->line, key);
    char **list = NULL;
    int nl = 0;
    if (v && fy_node_is_sequence(v)) {
        if (gs_yaml_strlist(y, v, e->line, key, &list, &nl) == 0)
            for (int j = 0; j < nl; j++) {
                char *x = gs_macros_expand(L->mx, list[j], e->line, key, false);
                if (x)
                    add_strip(F->strip, F->nstrip, x);
                free(x);
            }
    } else {
        char *s;
        if (gs_yaml_str(y, e->val, e->line, key, &s) > 0) {
            char *x = gs_macros_expand(L->mx, s, e->line, key, false);
            if (x)
                add_strip(F->strip, F->nstrip, x);
            free(x);
        }
        free(s);
    }
    gs_strv_free_n(list, nl);
}

static void set_params_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                          void *ud)
{
    gs_conffilters *F = base;
    struct fy_node *v = gs_yaml_deref(y, e->val, e->line, key);
    if (gs_yaml_is_null(v))
        return;
    json_t *o = params_json(ud, v, e->line, key);
    json_decref(*F->set);
    *F->set = o;
}

static void by_id_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_conffilters *F = base;
    if (!F->by_id) {
        gs_yaml_warn(y, e->line, key, "unknown key, ignored");
        return;
    }
    json_decref(*F->by_id);
    *F->by_id = params_by_id(ud, e, key);
}

static const gs_yaml_key filter_keys[] = {
    {"stripParams", GS_YT_FN, 0, 0, 0, 0, strip_fn, 0},
    {"strip_params", GS_YT_FN, 0, 0, 0, 0, strip_fn, 0},
    {"setParams", GS_YT_FN, 0, 0, 0, 0, set_params_fn, 0},
    {"setParamsByID", GS_YT_FN, 0, 0, 0, 0, by_id_fn, 0},
};

void gs_confload_filters(gs_confld *L, const gs_conffilters *F, const gs_macro_scope *mx,
                         const gs_yaml_kv *e, const char *key)
{
    const gs_macro_scope *saved = L->mx;
    gs_confload_scope(L, mx);
    gs_yaml_apply(&L->y, filter_keys, GS_ARRAY_LEN(filter_keys), e->val, e->line, key, NULL,
                  (void *)F, L);
    gs_confload_scope(L, saved);
}
