/* resolve: what a requested model name reaches, in llama-swap's order.
 *
 * First the active profile's pin for the name (a pin to nothing makes the name answer 404),
 * then a selector (pin: its first target; warm: the first target ready, else the first
 * starting, else the first; spillover: the least busy active target while it has fewer than
 * `spillover` requests, else the first cold one, ties in turn), then a local model id or alias,
 * then a peer ("peer/model", or a bare name one peer alone lists). Pure: the caller passes the
 * models' states and load, so selectors are checked by unit tests. */
#ifndef GS_RESOLVE_H
#define GS_RESOLVE_H
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef struct gs_resolve_view {
    const gs_config *cfg;
    int profile;                /* active profile index, or -1 */
    const unsigned char *state; /* per model: 0 stopped, 1 starting, 2 ready, 3 stopping */
    const int *busy;            /* per model: requests queued or in flight */
    unsigned rr;                /* turn counter for spillover ties (caller increments) */
} gs_resolve_view;

typedef struct gs_resolved {
    const char *name;       /* the name after pins and selectors: what the body's model becomes
                             * (borrowed from the config, or the asked name) */
    int model;              /* local model index, or -1 */
    int peer;               /* peer index, or -1 */
    const char *peer_model; /* the peer's own name for it */
    int selector;           /* the selector that chose, or -1 */
} gs_resolved;

/* 0 with *out filled; -ENOENT with a reason in err (the caller answers 404). */
int gs_resolve_name(const gs_resolve_view *v, const char *asked, gs_resolved *out, char *err,
                    size_t errlen);

#endif
