#include "confpeer.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "strv.h"

/* ---------------------------------------------------------------- peers */

void gs_confpeer_free_peer(gs_peer_cfg *p)
{
    free(p->id);
    free(p->proxy);
    free(p->proxy_host);
    free(p->proxy_path);
    free(p->api_key);
    gs_strv_free_n(p->models, p->nmodels);
    gs_strv_free_n(p->strip_params, p->nstrip);
    json_decref(p->set_params);
}

static void peer_proxy_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                          void *ud)
{
    gs_peer_cfg *p = base;
    const char *why = gs_confload_proxy(p->proxy, true, &p->tls, &p->proxy_host, &p->proxy_port,
                                        &p->proxy_path);
    if (why)
        gs_yaml_err(y, e->line, key, "%s, not '%s'", why, p->proxy);
}

static void api_key_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_peer_cfg *p = base;
    if (p->api_key && strpbrk(p->api_key, "\r\n"))
        gs_yaml_err(y, e->line, key, "cannot hold line breaks");
}

static void peer_models_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                           void *ud)
{
    gs_peer_cfg *p = base;
    char **list;
    int nl;
    gs_yaml_xstrlist(y, e->val, e->line, key, &list, &nl);
    for (int j = 0; j < nl; j++) {
        bool drop = gs_strv_has(p->models, p->nmodels, list[j]);
        if (!*list[j] || !gs_confload_name_ok(list[j], strlen(list[j]))) {
            char *ik = gs_yaml_path_index(key, j);
            gs_yaml_err(y, e->line, ik, "a model name must be non-empty, without control "
                                        "characters, quotes or backslashes");
            free(ik);
            drop = true;
        }
        if (drop)
            free(list[j]);
        else
            gs_strv_push(&p->models, &p->nmodels, list[j]);
    }
    free(list);
}

static void peer_filters_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                            void *ud)
{
    gs_peer_cfg *p = base;
    gs_confld *L = ud;
    gs_conffilters F = {&p->strip_params, &p->nstrip, &p->set_params, NULL};
    gs_confload_filters(L, &F, L->mx, e, key);
}

static void peer_timeouts_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                             void *ud)
{
    gs_confload_timeouts(ud, e, key, &((gs_peer_cfg *)base)->timeouts);
}

static const gs_yaml_key peer_keys[] = {
    {"proxy", GS_YT_XSTR, offsetof(gs_peer_cfg, proxy), 0, 0, 0, peer_proxy_fn, 0},
    {"apiKey", GS_YT_XSTR, offsetof(gs_peer_cfg, api_key), 0, 0, 0, api_key_fn,
     GS_YF_EMPTY_NULL},
    {"models", GS_YT_FN, 0, 0, 0, 0, peer_models_fn, 0},
    {"filters", GS_YT_FN, 0, 0, 0, 0, peer_filters_fn, 0},
    {"timeouts", GS_YT_FN, 0, 0, 0, 0, peer_timeouts_fn, 0},
};

static void peer_load(gs_confld *L, gs_peer_cfg *p, struct fy_node *n, const char *path)
{
    gs_yaml_apply(&L->y, peer_keys, GS_ARRAY_LEN(peer_keys), n, p->line, path, NULL, p, L);
    if (!p->proxy)
        gs_yaml_err(&L->y, p->line, path, "proxy is required (the peer's base URL)");
    if (!p->nmodels)
        gs_yaml_err(&L->y, p->line, path, "models cannot be empty: list the models the peer serves");
}

static int peer_cmp(const void *a, const void *b)
{
    return strcmp(((const gs_peer_cfg *)a)->id, ((const gs_peer_cfg *)b)->id);
}

void gs_confpeer_load_peers(gs_confld *L, const gs_confref *r)
{
    gs_config *c = L->c;
    struct fy_node *n = gs_yaml_map(&L->y, r->val, r->line, "peers", "of peer ids to peers");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "peers", &items);
    c->peers = gs_mem_calloc((size_t)items.n + 1, sizeof(*c->peers));
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *path = gs_yaml_path_join("peers", e->key);
        struct fy_node *pn = gs_yaml_map(&L->y, e->val, e->line, path, "with proxy and models");
        if (!e->klen || !gs_confload_name_ok(e->key, e->klen)) {
            gs_yaml_err(&L->y, e->line, path, "a peer id must be non-empty, without control characters, "
                                  "quotes or backslashes");
        } else if (pn) {
            gs_peer_cfg *p = &c->peers[c->npeers++];
            p->id = gs_mem_strdup(e->key);
            p->line = e->line;
            gs_confload_timeouts_default(&p->timeouts, 60);
            peer_load(L, p, pn, path);
        } else {
            gs_yaml_err(&L->y, e->line, path, "expected a mapping with proxy and models");
        }
        free(path);
    }
    gs_yaml_kvs_free(&items);
    qsort(c->peers, (size_t)c->npeers, sizeof(*c->peers), peer_cmp);
    /* "peer/model" names one thing: not two peers' models, not a local model or alias */
    for (int i = 0; i < c->npeers; i++)
        for (int j = 0; j < c->peers[i].nmodels; j++) {
            gs_peer_cfg *p = &c->peers[i];
            char *fqn = gs_mem_printf("%s/%s", p->id, p->models[j]);
            char *key = gs_mem_printf("peers.%s.models", p->id);
            int other = gs_confload_peer_fqn(c, fqn, NULL);
            if (other != i)
                gs_yaml_err(&L->y, p->line, key, "peer model name %s is ambiguous between peers %s and %s",
                    fqn, c->peers[other].id, p->id);
            else if (gs_confload_find(c, fqn) >= 0)
                gs_yaml_err(&L->y, p->line, key, "model id or alias %s conflicts with the peer model name",
                    fqn);
            free(key);
            free(fqn);
        }
}

void gs_confpeer_free_selector(gs_selector_cfg *s)
{
    free(s->id);
    gs_strv_free_n(s->targets, s->ntargets);
    free(s->name);
    free(s->description);
    json_decref(s->metadata);
}

static void strategy_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_selector_cfg *s = base;
    char *v;
    if (gs_yaml_xstr(y, e->val, e->line, key, &v) <= 0)
        return;
    if (!strcmp(v, "pin"))
        s->strategy = GS_SELECT_PIN;
    else if (!strcmp(v, "warm"))
        s->strategy = GS_SELECT_WARM;
    else if (!strcmp(v, "spillover"))
        s->strategy = GS_SELECT_SPILLOVER;
    else
        gs_yaml_err(y, e->line, key, "unknown strategy \"%s\" (valid: warm, pin, spillover)", v);
    s->line = -s->line; /* strategy seen */
    free(v);
}

static const gs_yaml_key selector_settings_keys[] = {
    {"spillover", GS_YT_INT, offsetof(gs_selector_cfg, spillover), INT_MIN, INT_MAX, 0, NULL, 0},
};

static void selector_settings_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                                 void *ud)
{
    gs_yaml_apply(y, selector_settings_keys, GS_ARRAY_LEN(selector_settings_keys), e->val,
                  e->line, key, "with spillover", base, ud);
}

static void selector_metadata_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                                 void *ud)
{
    gs_selector_cfg *s = base;
    gs_confld *L = ud;
    struct fy_node *mn = gs_yaml_map(y, e->val, e->line, key, NULL);
    if (!mn)
        return;
    json_decref(s->metadata);
    s->metadata = gs_macros_json(L->mx, mn, 1, e->line, key);
}

#define SF(f) offsetof(gs_selector_cfg, f)
static const gs_yaml_key selector_keys[] = {
    {"strategy", GS_YT_FN, 0, 0, 0, 0, strategy_fn, 0},
    {"targets", GS_YT_XSTRLIST, SF(targets), 0, 0, SF(ntargets), NULL, 0},
    {"settings", GS_YT_FN, 0, 0, 0, 0, selector_settings_fn, 0},
    {"name", GS_YT_XSTR, SF(name), 0, 0, 0, NULL, 0},
    {"description", GS_YT_XSTR, SF(description), 0, 0, 0, NULL, 0},
    {"unlisted", GS_YT_BOOL, SF(unlisted), 0, 0, 0, NULL, 0},
    {"metadata", GS_YT_FN, 0, 0, 0, 0, selector_metadata_fn, 0},
};

static void selector_load(gs_confld *L, gs_selector_cfg *s, struct fy_node *n, const char *path)
{
    gs_yaml_apply(&L->y, selector_keys, GS_ARRAY_LEN(selector_keys), n, s->line, path, NULL, s,
                  L);
}

/* A target as the group router sees it: the model index, or -1 for a peer. */
static void selector_check(gs_confld *L, gs_selector_cfg *s, const char *path)
{
    gs_config *c = L->c;
    bool seen = s->line < 0;
    s->line = seen ? -s->line : s->line;
    if (!seen)
        gs_yaml_err(&L->y, s->line, path, "strategy is required (warm, pin or spillover)");
    if (!s->ntargets)
        gs_yaml_err(&L->y, s->line, path, "targets must list at least one model");
    if (s->strategy == GS_SELECT_SPILLOVER && s->spillover < 1)
        gs_yaml_err(&L->y, s->line, path, "settings.spillover must be at least 1, not %d", s->spillover);
    int *local = gs_mem_calloc((size_t)s->ntargets + 1, sizeof(int));
    for (int i = 0; i < s->ntargets; i++) {
        char *ik = gs_mem_printf("%s.targets[%d]", path, i);
        const char *pm;
        int idx = gs_confload_find(c, s->targets[i]);
        int peer = idx < 0 ? gs_confload_find_peer(c, s->targets[i], &pm) : -1;
        local[i] = idx;
        if (gs_confload_find_selector(c, s->targets[i]) >= 0)
            gs_yaml_err(&L->y, s->line, ik, "names selector %s; a selector cannot target a selector",
                s->targets[i]);
        else if (idx < 0 && peer < 0)
            gs_yaml_err(&L->y, s->line, ik, "references unknown model \"%s\"", s->targets[i]);
        else if (idx < 0 && s->strategy == GS_SELECT_WARM)
            gs_yaml_err(&L->y, s->line, ik, "must be a local model for strategy warm");
        for (int j = 0; j < i && s->strategy == GS_SELECT_SPILLOVER; j++) {
            bool same = idx >= 0 ? local[j] == idx
                                 : local[j] < 0 && peer >= 0 &&
                                       gs_confload_find_peer(c, s->targets[j], NULL) == peer &&
                                       !strcmp(s->targets[j], s->targets[i]);
            if (same) {
                gs_yaml_err(&L->y, s->line, ik, "targets the same model as targets[%d]", j);
                break;
            }
        }
        free(ik);
    }
    /* Spillover runs its local targets side by side: with groups they must share one group
     * that does not swap. (With a matrix, the routing module checks that one set holds them.) */
    int first = -1;
    for (int i = 0; i < s->ntargets && s->strategy == GS_SELECT_SPILLOVER &&
                    c->router == GS_ROUTER_GROUP; i++) {
        if (local[i] < 0)
            continue;
        if (first < 0) {
            first = local[i];
            continue;
        }
        int g = c->models[first].group;
        if (c->models[local[i]].group != g || c->groups[g].swap) {
            gs_yaml_err(&L->y, s->line, path, "spillover targets must share one group with swap: false");
            break;
        }
    }
    free(local);
}

static int selector_cmp(const void *a, const void *b)
{
    return strcmp(((const gs_selector_cfg *)a)->id, ((const gs_selector_cfg *)b)->id);
}

void gs_confpeer_load_selectors(gs_confld *L, const gs_confref *r)
{
    gs_config *c = L->c;
    struct fy_node *n = gs_yaml_map(&L->y, r->val, r->line, "selectors", "of selector ids to selectors");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "selectors", &items);
    c->selectors = gs_mem_calloc((size_t)items.n + 1, sizeof(*c->selectors));
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *path = gs_yaml_path_join("selectors", e->key);
        struct fy_node *sn = gs_yaml_map(&L->y, e->val, e->line, path, "with strategy and targets");
        if (!e->klen || !gs_confload_name_ok(e->key, e->klen))
            gs_yaml_err(&L->y, e->line, path, "a selector id must be non-empty, without control "
                                  "characters, quotes or backslashes");
        else if (gs_confload_find(c, e->key) >= 0)
            gs_yaml_err(&L->y, e->line, path, "the name is already a model id or alias");
        else if (gs_confload_peer_fqn(c, e->key, NULL) >= 0)
            gs_yaml_err(&L->y, e->line, path, "the name is already a peer model name");
        else if (sn) {
            gs_selector_cfg *s = &c->selectors[c->nselectors++];
            s->id = gs_mem_strdup(e->key);
            s->line = e->line;
            s->spillover = 1;
            selector_load(L, s, sn, path);
        }
        free(path);
    }
    gs_yaml_kvs_free(&items);
    qsort(c->selectors, (size_t)c->nselectors, sizeof(*c->selectors), selector_cmp);
    for (int i = 0; i < c->nselectors; i++) {
        char *path = gs_yaml_path_join("selectors", c->selectors[i].id);
        selector_check(L, &c->selectors[i], path);
        free(path);
    }
}

void gs_confpeer_free_profile(gs_profile_cfg *p)
{
    free(p->id);
    free(p->description);
    for (int i = 0; i < p->npins; i++) {
        free(p->pins[i].from);
        free(p->pins[i].to);
    }
    free(p->pins);
}

/* Returns how many pins the mapping holds, valid or not. */
/* What a profile's keys need besides the profile: the pins counted, valid or not. */
typedef struct pctx {
    gs_confld *L;
    int npins;
} pctx;

static void pins_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_profile_cfg *p = base;
    pctx *P = ud;
    gs_config *c = P->L->c;
    struct fy_node *n = gs_yaml_map(y, e->val, e->line, key, "of requested names to models");
    gs_yaml_kvs items = {0};
    if (n)
        gs_yaml_items(y, n, key, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        char *pk = gs_yaml_path_join(key, f->key);
        char *to = NULL;
        if (!f->klen || !gs_confload_name_ok(f->key, f->klen)) {
            gs_yaml_err(y, f->line, pk, "a pin name must be non-empty, without control "
                                        "characters, quotes or backslashes");
        } else if (gs_confload_peer_fqn(c, f->key, NULL) >= 0) {
            gs_yaml_err(y, f->line, pk, "the name is already a peer model name");
        } else if (gs_yaml_xstr(y, f->val, f->line, pk, &to) >= 0) {
            if (to && !*to) {
                free(to);
                to = NULL; /* disables the name */
            }
            if (to && gs_confload_find(c, to) < 0 && gs_confload_find_peer(c, to, NULL) < 0 &&
                gs_confload_find_selector(c, to) < 0) {
                gs_yaml_err(y, f->line, pk, "references unknown model \"%s\"", to);
            } else {
                p->pins = gs_mem_realloc(p->pins, (size_t)(p->npins + 1) * sizeof(*p->pins));
                p->pins[p->npins++] = (gs_profile_pin){gs_mem_strdup(f->key), to, f->line};
                to = NULL;
            }
        }
        free(to);
        free(pk);
    }
    P->npins += items.n;
    gs_yaml_kvs_free(&items);
}

static const gs_yaml_key profile_keys[] = {
    {"pins", GS_YT_FN, 0, 0, 0, 0, pins_fn, 0},
    {"description", GS_YT_XSTR, offsetof(gs_profile_cfg, description), 0, 0, 0, NULL, 0},
};

static int profile_cmp(const void *a, const void *b)
{
    return strcmp(((const gs_profile_cfg *)a)->id, ((const gs_profile_cfg *)b)->id);
}

void gs_confpeer_load_profiles(gs_confld *L, const gs_confref *r)
{
    gs_config *c = L->c;
    struct fy_node *n = gs_yaml_map(&L->y, r->val, r->line, "profiles", "of profile names to profiles");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "profiles", &items);
    c->profiles = gs_mem_calloc((size_t)items.n + 1, sizeof(*c->profiles));
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *path = gs_yaml_path_join("profiles", e->key);
        struct fy_node *pn = gs_yaml_deref(&L->y, e->val, e->line, path);
        if (!e->klen || !gs_confload_name_ok(e->key, e->klen)) {
            gs_yaml_err(&L->y, e->line, path, "a profile name must be non-empty, without control "
                                  "characters, quotes or backslashes");
        } else if (!pn || !fy_node_is_mapping(pn)) {
            gs_yaml_err(&L->y, e->line, path, "a profile must be a mapping with description and pins; the "
                                  "old list form is no longer supported");
        } else {
            gs_profile_cfg *p = &c->profiles[c->nprofiles++];
            p->id = gs_mem_strdup(e->key);
            p->line = e->line;
            pctx P = {L, 0};
            gs_yaml_apply(&L->y, profile_keys, GS_ARRAY_LEN(profile_keys), e->val, e->line,
                          path, NULL, p, &P);
            int npins = P.npins;
            if (!npins)
                gs_yaml_err(&L->y, e->line, path, "pins must hold at least one entry");
        }
        free(path);
    }
    gs_yaml_kvs_free(&items);
    qsort(c->profiles, (size_t)c->nprofiles, sizeof(*c->profiles), profile_cmp);
}

