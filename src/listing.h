/* listing: the model list of GET /v1/models, in llama-swap's shape.
 *
 * One record per listed model (not `unlisted`), plus one per alias when includeAliasesInList
 * is set, one per peer model ("peer/model") and one per selector; sorted by id, as llama-swap
 * sorts them. Each record carries OpenAI's fields (id, object, created, owned_by), name and
 * description when set, what `capabilities` says (architecture, capabilities,
 * supported_parameters, context_length), `status.value` (loaded / unloaded), and `meta`:
 * `meta.llamaswap` holds the user's `metadata` plus llama-swap's type (model, alias, peer,
 * selector) and links (aliases, modelID, peerID, strategy, targets), `meta.n_ctx` the context,
 * and `meta.ggswap` ggswap's own live view of the model (state, port, ttl, ...). Pure: the
 * caller passes the states and ggswap's view, so the shape is checked by unit tests. */
#ifndef GS_LISTING_H
#define GS_LISTING_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct gs_listing_in {
    const gs_config *cfg;
    const unsigned char *state; /* per model: 0 stopped (or stopping), 1 starting, 2 ready */
    int64_t created;           /* seconds since the epoch, for every record */
    /* ggswap's view of model idx (a new reference), or NULL for none. */
    json_t *(*ggswap_meta)(int idx, void *ud);
    void *ud;
} gs_listing_in;

/* {"object":"list","data":[...]} (a new reference). */
json_t *gs_listing_build(const gs_listing_in *in);

#endif
