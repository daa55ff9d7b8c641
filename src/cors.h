/* cors: which web pages may call the API from a browser, and the headers that tell the browser.
 *
 * By default the pages of this machine (http or https on localhost, 127.0.0.1 or [::1], any
 * port) and app pages (file://, app://, tauri://, and "null", the Origin that file:// pages
 * send) are allowed; `cors.origins` in the config replaces that list: "*" allows every origin,
 * "scheme://" every origin of that scheme, anything else one origin exactly. A page of another
 * origin gets no CORS headers at all, so the browser keeps the answer from it. The decision is
 * pure; the API module applies it before the API-key check (a preflight carries no key). */
#ifndef GS_CORS_H
#define GS_CORS_H
#include <stdbool.h>
#include <stddef.h>

/* Is a page of `origin` (the Origin header's value) allowed? origins/n is cors.origins, or
 * origins == NULL for the default list. Anything malformed or over 256 bytes is not. */
bool gs_cors_allowed(char *const *origins, int n, const char *origin);
/* The header lines of an answer to an allowed origin (ACAO, Expose-Headers, Vary) into out.
 * Returns the length, or 0 when they do not fit. */
size_t gs_cors_answer_headers(const char *origin, char *out, size_t cap);
/* The header lines of a preflight answer: the above plus -Methods, -Headers (what was asked in
 * Access-Control-Request-Headers, which may be NULL, plus Authorization and Content-Type) and
 * -Max-Age. Returns the length, or 0 when they do not fit. */
size_t gs_cors_preflight_headers(const char *origin, const char *asked, char *out, size_t cap);

#endif
