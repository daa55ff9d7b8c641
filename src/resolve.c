#include "resolve.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { ST_STOPPED = 0, ST_STARTING = 1, ST_READY = 2, ST_STOPPING = 3 };

static int state_of(const gs_resolve_view *v, int m)
{
    return v->state && m >= 0 ? v->state[m] : ST_STOPPED;
}

static int busy_of(const gs_resolve_view *v, int m)
{
    return v->busy && m >= 0 ? v->busy[m] : 0;
}

static const char *warm(const gs_resolve_view *v, const gs_selector_cfg *s)
{
    for (int want = ST_READY; want >= ST_STARTING; want--)
        for (int t = 0; t < s->ntargets; t++)
            if (state_of(v, gs_config_find(v->cfg, s->targets[t])) == want)
                return s->targets[t];
    return s->targets[0];
}

/* Active targets are those running or starting (local) or with requests (peers); a stopping
 * one is skipped. Counts are the models' own requests, which include the selector's. */
static const char *spillover(const gs_resolve_view *v, const gs_selector_cfg *s)
{
    int min = -1, nmin = 0, cold = -1;
    for (int t = 0; t < s->ntargets; t++) {
        int m = gs_config_find(v->cfg, s->targets[t]);
        int st = state_of(v, m), b = busy_of(v, m);
        bool active;
        if (m < 0)
            active = false; /* a peer: no count kept here, so it is cold */
        else if (st == ST_STOPPING)
            continue;
        else
            active = st == ST_READY || st == ST_STARTING || b > 0;
        if (!active) {
            if (cold < 0)
                cold = t;
            continue;
        }
        if (min < 0 || b < min) {
            min = b;
            nmin = 1;
        } else if (b == min) {
            nmin++;
        }
    }
    if (min < 0 || (min >= s->spillover && cold >= 0))
        return cold >= 0 ? s->targets[cold] : NULL;
    int pick = (int)(v->rr % (unsigned)nmin);
    for (int t = 0; t < s->ntargets; t++) {
        int m = gs_config_find(v->cfg, s->targets[t]);
        if (m < 0 || state_of(v, m) == ST_STOPPING)
            continue;
        bool active = state_of(v, m) == ST_READY || state_of(v, m) == ST_STARTING ||
                      busy_of(v, m) > 0;
        if (active && busy_of(v, m) == min && pick-- == 0)
            return s->targets[t];
    }
    return s->targets[0];
}

int gs_resolve_name(const gs_resolve_view *v, const char *asked, gs_resolved *out, char *err,
                    size_t errlen)
{
    const gs_config *c = v->cfg;
    *out = (gs_resolved){.name = asked, .model = -1, .peer = -1, .selector = -1};
    const char *name = asked;
    if (v->profile >= 0 && v->profile < c->nprofiles) {
        const gs_profile_cfg *p = &c->profiles[v->profile];
        for (int i = 0; i < p->npins; i++)
            if (!strcmp(p->pins[i].from, name)) {
                if (!p->pins[i].to) {
                    snprintf(err, errlen, "model '%s' is disabled by profile %s", name, p->id);
                    return -ENOENT;
                }
                name = p->pins[i].to;
                break;
            }
    }
    int sel = gs_config_find_selector(c, name);
    if (sel >= 0) {
        const gs_selector_cfg *s = &c->selectors[sel];
        const char *t = s->ntargets == 0          ? NULL
                        : s->strategy == GS_SELECT_PIN  ? s->targets[0]
                        : s->strategy == GS_SELECT_WARM ? warm(v, s)
                                                        : spillover(v, s);
        if (!t) {
            snprintf(err, errlen, "selector %s has no available target", s->id);
            return -ENOENT;
        }
        out->selector = sel;
        name = t;
    }
    out->name = name;
    out->model = gs_config_find(c, name);
    if (out->model >= 0)
        return 0;
    out->peer = gs_config_find_peer(c, name, &out->peer_model);
    if (out->peer >= 0)
        return 0;
    snprintf(err, errlen, "model '%s' not found", name);
    return -ENOENT;
}
