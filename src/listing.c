#include "listing.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

enum { ST_STOPPED = 0, ST_STARTING = 1, ST_READY = 2 };

static json_t *modalities(unsigned bits)
{
    static const struct {
        unsigned bit;
        const char *name;
    } m[] = {{GS_MODALITY_TEXT, "text"}, {GS_MODALITY_AUDIO, "audio"}, {GS_MODALITY_IMAGE, "image"}};
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (bits & m[i].bit)
            json_array_append_new(a, json_string(m[i].name));
    return a;
}

static char *joined(unsigned bits)
{
    json_t *a = modalities(bits);
    size_t n = 0;
    char buf[64] = "";
    json_t *v;
    size_t i;
    json_array_foreach(a, i, v) {
        const char *s = json_string_value(v);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? "+" : "", s);
    }
    json_decref(a);
    return gs_mem_strdup(buf);
}

/* capabilities -> architecture, capabilities, supported_parameters, context_length (as
 * llama-swap renders them). Returns the context length (0 when unknown). */
static int render_caps(json_t *o, const gs_caps_cfg *c)
{
    if (!c->set)
        return 0;
    bool in = c->in != 0, out = c->out != 0;
    if (in || out) {
        json_t *arch = json_object();
        if (in)
            json_object_set_new(arch, "input_modalities", modalities(c->in));
        if (out)
            json_object_set_new(arch, "output_modalities", modalities(c->out));
        if (in && out) {
            char *a = joined(c->in), *b = joined(c->out);
            char *m = gs_mem_printf("%s->%s", a, b);
            json_object_set_new(arch, "modality", json_string(m));
            free(m);
            free(a);
            free(b);
        }
        json_object_set_new(o, "architecture", arch);
    }
    if (in || out || c->tools || c->reranker) {
        json_t *caps = json_object();
        if (c->in & GS_MODALITY_IMAGE)
            json_object_set_new(caps, "vision", json_true());
        if (in && out) {
            if ((c->in & GS_MODALITY_AUDIO) && (c->out & GS_MODALITY_TEXT))
                json_object_set_new(caps, "audio_transcriptions", json_true());
            if ((c->in & GS_MODALITY_TEXT) && (c->out & GS_MODALITY_AUDIO))
                json_object_set_new(caps, "audio_speech", json_true());
            if ((c->in & GS_MODALITY_TEXT) && (c->out & GS_MODALITY_IMAGE))
                json_object_set_new(caps, "image_generation", json_true());
            if ((c->in & GS_MODALITY_IMAGE) && (c->out & GS_MODALITY_IMAGE))
                json_object_set_new(caps, "image_to_image", json_true());
        }
        if (c->tools)
            json_object_set_new(caps, "function_calling", json_true());
        if (c->reranker)
            json_object_set_new(caps, "reranker", json_true());
        json_object_set_new(o, "capabilities", caps);
    }
    if (c->tools)
        json_object_set_new(o, "supported_parameters", json_pack("[s,s]", "tools", "tool_choice"));
    if (c->context > 0)
        json_object_set_new(o, "context_length", json_integer(c->context));
    return c->context;
}

/* One record. `internal` (stolen) holds llama-swap's own keys of meta.llamaswap; they win over
 * the user's metadata, which loses the keys capabilities renders when capabilities are set. */
static json_t *record(const gs_listing_in *in, const char *id, const char *name,
                      const char *desc, const json_t *metadata, const gs_caps_cfg *caps,
                      bool loaded, json_t *internal, json_t *ggswap)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "object", json_string("model"));
    json_object_set_new(o, "created", json_integer((json_int_t)in->created));
    json_object_set_new(o, "owned_by", json_string("ggswap"));
    if (name && *name)
        json_object_set_new(o, "name", json_string(name));
    if (desc && *desc)
        json_object_set_new(o, "description", json_string(desc));
    int n_ctx = caps ? render_caps(o, caps) : 0;
    json_t *ls = json_object();
    if (metadata && json_is_object(metadata)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)metadata, k, v) {
            if (caps && caps->set &&
                (!strcmp(k, "architecture") || !strcmp(k, "capabilities") ||
                 !strcmp(k, "supported_parameters") || !strcmp(k, "context_length")))
                continue;
            json_object_set(ls, k, v);
        }
    }
    json_object_update(ls, internal);
    json_decref(internal);
    json_t *meta = json_object();
    json_object_set_new(meta, "llamaswap", ls);
    if (n_ctx > 0)
        json_object_set_new(meta, "n_ctx", json_integer(n_ctx));
    if (ggswap)
        json_object_set_new(meta, "ggswap", ggswap);
    json_object_set_new(o, "meta", meta);
    json_object_set_new(o, "status", json_pack("{s:s}", "value", loaded ? "loaded" : "unloaded"));
    return o;
}

static json_t *strv(char *const *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static int by_id(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "id"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "id"));
    return strcmp(x ? x : "", y ? y : "");
}

static void add_models(const gs_listing_in *in, json_t *data)
{
    const gs_config *c = in->cfg;
    for (int i = 0; i < c->nmodels; i++) {
        const gs_model_cfg *m = &c->models[i];
        if (m->unlisted)
            continue;
        bool loaded = in->state && in->state[i] == ST_READY;
        json_t *internal = json_pack("{s:s}", "type", "model");
        if (m->naliases_written > 0)
            json_object_set_new(internal, "aliases", strv(m->aliases, m->naliases_written));
        json_t *gg = in->ggswap_meta ? in->ggswap_meta(i, in->ud) : NULL;
        if (gg)
            json_object_set_new(gg, "type", json_string("model"));
        json_array_append_new(data, record(in, m->id, m->name, m->description, m->metadata,
                                           &m->caps, loaded, internal, gg));
        if (!c->include_aliases_in_list)
            continue;
        for (int a = 0; a < m->naliases_written; a++) {
            gg = in->ggswap_meta ? in->ggswap_meta(i, in->ud) : NULL;
            if (gg) {
                json_object_set_new(gg, "type", json_string("alias"));
                json_object_set_new(gg, "model", json_string(m->id));
            }
            json_array_append_new(
                data, record(in, m->aliases[a], m->name, m->description, m->metadata, &m->caps,
                             loaded, json_pack("{s:s, s:s}", "type", "alias", "modelID", m->id),
                             gg));
        }
    }
}

static void add_peers(const gs_listing_in *in, json_t *data)
{
    const gs_config *c = in->cfg;
    for (int p = 0; p < c->npeers; p++) {
        const gs_peer_cfg *peer = &c->peers[p];
        for (int j = 0; j < peer->nmodels; j++) {
            char *fqn = gs_mem_printf("%s/%s", peer->id, peer->models[j]);
            char *name = gs_mem_printf("%s: %s", peer->id, peer->models[j]);
            json_array_append_new(data, record(in, fqn, name, NULL, NULL, NULL, false,
                                               json_pack("{s:s, s:s}", "type", "peer",
                                                         "peerID", peer->id),
                                               NULL));
            free(fqn);
            free(name);
        }
    }
}

static const char *strategy_name(gs_selector_strategy s)
{
    return s == GS_SELECT_PIN ? "pin" : s == GS_SELECT_WARM ? "warm" : "spillover";
}

static void add_selectors(const gs_listing_in *in, json_t *data)
{
    const gs_config *c = in->cfg;
    for (int i = 0; i < c->nselectors; i++) {
        const gs_selector_cfg *sel = &c->selectors[i];
        if (sel->unlisted)
            continue;
        /* Loaded when the target it would pick now runs (or starts): pin looks at its first
         * target only. */
        bool loaded = false;
        for (int t = 0; t < sel->ntargets && !loaded; t++) {
            int m = gs_config_find(c, sel->targets[t]);
            if (m >= 0 && in->state && in->state[m] != ST_STOPPED)
                loaded = true;
            if (sel->strategy == GS_SELECT_PIN)
                break;
        }
        json_t *internal = json_pack("{s:s, s:s, s:o}", "type", "selector", "strategy",
                                     strategy_name(sel->strategy), "targets",
                                     strv(sel->targets, sel->ntargets));
        if (sel->strategy == GS_SELECT_SPILLOVER)
            json_object_set_new(internal, "spillover", json_integer(sel->spillover));
        json_array_append_new(data, record(in, sel->id, sel->name, sel->description,
                                           sel->metadata, NULL, loaded, internal, NULL));
    }
}

json_t *gs_listing_build(const gs_listing_in *in)
{
    json_t *data = json_array();
    add_models(in, data);
    add_peers(in, data);
    add_selectors(in, data);
    size_t n = json_array_size(data);
    json_t **v = gs_mem_alloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(data, i));
    qsort(v, n, sizeof *v, by_id);
    json_array_clear(data);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, v[i]);
    free(v);
    return json_pack("{s:s, s:o}", "object", "list", "data", data);
}
