/* jscan: find the top-level "model" of a JSON request body without building a tree.
 *
 * Almost every inference request is routed by one string at the top of its body, and most models
 * have no filter that rewrites the body: parsing it into a jansson tree just to read that string
 * costs an allocation per value on the proxy's hot path. This scanner walks the body once, checks
 * it against the JSON grammar as strictly as jansson's default decoder does (a top-level object
 * or array, valid UTF-8, no NUL and no lone surrogate in strings, a bounded depth), and copies the
 * value of the top-level "model" key (the last one, as jansson keeps the last duplicate). A body
 * it refuses is what jansson would refuse, so the client still gets a 400 with a position. */
#ifndef GS_JSCAN_H
#define GS_JSCAN_H
#include <stdbool.h>
#include <stddef.h>

/* The deepest nesting accepted (jansson's default is 2048 too). */
#define GS_JSCAN_MAX_DEPTH 2048

typedef struct gs_jscan_result {
    char *model;        /* decoded top-level "model" string (caller frees), or NULL */
    bool model_not_str; /* a top-level "model" exists but is not a string */
    /* On error: what is wrong, and where (1-based line and column, as jansson reports them). */
    const char *error;
    int line, column;
} gs_jscan_result;

/* Scan body[0..len). Returns 0 when it is valid JSON (model may still be NULL: no such key, or
 * the top level is an array), or -EINVAL with error/line/column set. */
int gs_jscan_model(const char *body, size_t len, gs_jscan_result *r);

#endif
