/* fuzz_hub: the Hub's JSON and pull references. Input: a first line used as a pull reference,
 * the rest as a tree listing (and as a search answer). Checks hub.h's promises: every kept path
 * is safe (relative, no "..", no control chars), sha256 is empty or 64 lowercase hex, a choice
 * names only listed files and never one twice, and errors always come with a sentence. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"

/* No segment is "" , "." or "..", and the path is relative. */
static bool safe(const char *p)
{
    if (!*p || *p == '/')
        return false;
    for (const char *seg = p;;) {
        const char *e = strchr(seg, '/');
        size_t l = e ? (size_t)(e - seg) : strlen(seg);
        if (l == 0 || (l == 1 && seg[0] == '.') || (l == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (!e)
            return true;
        seg = e + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > 65536)
        return 0;
    char *text = malloc(len + 1);
    memcpy(text, data, len);
    text[len] = 0;
    char *nl = memchr(text, '\n', len);
    const char *json = nl ? nl + 1 : text;
    size_t jlen = nl ? len - (size_t)(nl + 1 - text) : len;
    if (nl)
        *nl = 0;

    gs_hub_ref r;
    char err[600];
    int rrc = gs_hub_parse_ref(text, (len & 1) ? "Q8_0" : NULL, "http://127.0.0.1:1", &r, err,
                               sizeof err);
    if (rrc < 0 && !err[0])
        abort();

    gs_hub_file *f = NULL;
    int n = 0;
    gs_hub_tree_parse(json, jlen, &f, &n);
    for (int i = 0; i < n; i++) {
        if (!gs_hub_path_ok(f[i].path) || !safe(f[i].path))
            abort();
        size_t sl = strlen(f[i].sha256);
        if (sl != 0 && sl != 64)
            abort();
        for (size_t k = 0; k < sl; k++)
            if (!((f[i].sha256[k] >= '0' && f[i].sha256[k] <= '9') ||
                  (f[i].sha256[k] >= 'a' && f[i].sha256[k] <= 'f')))
                abort();
        const char *ln = gs_hub_local_name(f[i].path);
        if (ln && (strchr(ln, '/') || ln[0] == '.'))
            abort();
    }
    if (rrc == 0 && r.kind != GS_HUB_REF_URL) {
        int pick[GS_HUB_MAX_PICK];
        int np = gs_hub_select(f, n, &r, pick, GS_HUB_MAX_PICK, err, sizeof err);
        if (np < 0 && !err[0])
            abort();
        for (int i = 0; i < np; i++) {
            if (pick[i] < 0 || pick[i] >= n || !gs_hub_local_name(f[pick[i]].path))
                abort();
            for (int k = 0; k < i; k++)
                if (pick[k] == pick[i])
                    abort();
        }
    }
    char q[200];
    gs_hub_quants(f, n, q, sizeof q);
    if (strlen(q) >= sizeof q)
        abort();
    gs_hub_files_free(f, n);
    free(gs_hub_search_reduce(json, jlen, 20));
    free(text);
    return 0;
}
