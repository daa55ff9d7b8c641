/* hub: pull references, the Hub's tree listing, the choice of files, Hub errors (see hub.h). */
#include "hub.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "names.h"

/* ---- references ---- */

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 96 || !isalnum((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!isalnum((unsigned char)c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

static bool quant_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

static bool ends_with_gguf(const char *s, size_t n)
{
    return n >= 5 && strncasecmp(s + n - 5, ".gguf", 5) == 0;
}

bool gs_hub_path_ok(const char *path)
{
    size_t n = strlen(path);
    if (n == 0 || n > 1000 || path[0] == '/')
        return false;
    const char *seg = path;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '/' || c == 0) {
            size_t sl = (size_t)(path + i - seg);
            if (sl == 0 || (sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            seg = path + i + 1;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
    }
    return true;
}

const char *gs_hub_local_name(const char *path)
{
    if (!gs_hub_path_ok(path))
        return NULL;
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (b[0] == '.' || !ends_with_gguf(b, n) || n == 5 || n > 255)
        return NULL;
    return b;
}

bool gs_hub_is_mmproj(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    return strcasestr(b, "mmproj") != NULL;
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* "https://host[:port]" of a URL, as a length; 0 when it is not http(s). */
static size_t origin_len(const char *u)
{
    const char *p;
    if (strncasecmp(u, "https://", 8) == 0)
        p = u + 8;
    else if (strncasecmp(u, "http://", 7) == 0)
        p = u + 7;
    else
        return 0;
    while (*p && *p != '/' && *p != '?' && *p != '#')
        p++;
    return (size_t)(p - u);
}

static bool same_origin(const char *url, const char *origin)
{
    size_t a = origin_len(url), b = origin ? origin_len(origin) : 0;
    return a && a == b && strncasecmp(url, origin, a) == 0;
}

/* "org/repo[/...]" after any Hub host was removed. */
static int parse_repo_form(const char *s, gs_hub_ref *out, char *err, size_t errlen,
                           const char *ref)
{
    const char *slash = strchr(s, '/');
    if (!slash)
        return fail(err, errlen, -EINVAL,
                    "'%s' is not a model reference: use org/repo, org/repo:QUANT, "
                    "org/repo/file.gguf or an https URL of a .gguf",
                    ref);
    const char *rest = strchr(slash + 1, '/');
    const char *repo_end = rest ? rest : slash + 1 + strlen(slash + 1);
    const char *colon = NULL;
    if (!rest) {
        colon = strchr(slash + 1, ':');
        if (colon)
            repo_end = colon;
    }
    if (!name_ok(s, (size_t)(slash - s)) ||
        !name_ok(slash + 1, (size_t)(repo_end - slash - 1)))
        return fail(err, errlen, -EINVAL,
                    "'%s': the repository must be org/repo (letters, digits, '-', '_', '.')", ref);
    snprintf(out->repo, sizeof out->repo, "%.*s", (int)(repo_end - s), s);
    snprintf(out->rev, sizeof out->rev, "main");
    if (colon) {
        if (!quant_ok(colon + 1))
            return fail(err, errlen, -EINVAL,
                        "'%s': '%s' is not a quantisation (like Q4_K_M or Q8_0)", ref, colon + 1);
        snprintf(out->quant, sizeof out->quant, "%s", colon + 1);
    }
    if (!rest) {
        out->kind = GS_HUB_REF_REPO;
        return 0;
    }
    const char *path = rest + 1;
    /* The page's own URLs: org/repo/resolve/<rev>/<path> and org/repo/blob/<rev>/<path>. */
    if (strncmp(path, "resolve/", 8) == 0 || strncmp(path, "blob/", 5) == 0) {
        const char *r = strchr(path, '/') + 1;
        const char *e = strchr(r, '/');
        if (!e || !name_ok(r, (size_t)(e - r)))
            return fail(err, errlen, -EINVAL, "'%s': expected .../resolve/<revision>/<file>", ref);
        snprintf(out->rev, sizeof out->rev, "%.*s", (int)(e - r), r);
        path = e + 1;
    }
    size_t pl = strcspn(path, "?#");
    if (pl >= sizeof out->path)
        return fail(err, errlen, -EINVAL, "'%s': the file path is too long", ref);
    snprintf(out->path, sizeof out->path, "%.*s", (int)pl, path);
    if (!gs_hub_local_name(out->path))
        return fail(err, errlen, -EINVAL,
                    "'%s': '%s' is not a .gguf file path inside the repository", ref, out->path);
    out->kind = GS_HUB_REF_FILE;
    return 0;
}

int gs_hub_parse_ref(const char *ref, const char *quant, const char *endpoint, gs_hub_ref *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = 0;
    if (!ref || !*ref)
        return fail(err, errlen, -EINVAL, "no model reference given (e.g. org/repo:Q4_K_M)");
    size_t n = strlen(ref);
    if (n >= sizeof out->url)
        return fail(err, errlen, -EINVAL, "the model reference is too long (%zu bytes)", n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)ref[i] <= ' ' || ref[i] == 0x7f)
            return fail(err, errlen, -EINVAL,
                        "'%s': a model reference has no spaces or control characters", ref);
    const char *s = ref;
    size_t ol = origin_len(ref);
    if (ol) {
        const char *host = ref + (ref[4] == 's' || ref[4] == 'S' ? 8 : 7);
        size_t hl = (size_t)(ref + ol - host);
        bool hub = same_origin(ref, endpoint) || same_origin(ref, GS_HUB_DEFAULT_ENDPOINT) ||
                   (hl == 5 && strncasecmp(host, "hf.co", 5) == 0) ||
                   (hl == 14 && strncasecmp(host, "huggingface.co", 14) == 0);
        if (!hub) {
            size_t pl = strcspn(ref, "?#");
            if (!ends_with_gguf(ref, pl) || ref[ol] != '/')
                return fail(err, errlen, -EINVAL,
                            "'%s': a URL must name a .gguf file (https://host/.../model.gguf)",
                            ref);
            out->kind = GS_HUB_REF_URL;
            snprintf(out->url, sizeof out->url, "%s", ref);
            return 0;
        }
        s = ref + ol;
        if (*s == '/')
            s++;
    } else if (strncasecmp(s, "hf.co/", 6) == 0) {
        s += 6;
    } else if (strncasecmp(s, "huggingface.co/", 15) == 0) {
        s += 15;
    }
    int rc = parse_repo_form(s, out, err, errlen, ref);
    if (rc < 0)
        return rc;
    if (quant && *quant) {
        if (!quant_ok(quant))
            return fail(err, errlen, -EINVAL,
                        "--quant '%s' is not a quantisation (like Q4_K_M or Q8_0)", quant);
        if (out->kind == GS_HUB_REF_FILE)
            return fail(err, errlen, -EINVAL,
                        "'%s' names one file already; --quant only goes with org/repo", ref);
        snprintf(out->quant, sizeof out->quant, "%s", quant);
    }
    return 0;
}

/* ---- the tree listing ---- */

static bool hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

int gs_hub_tree_parse(const char *json, size_t len, gs_hub_file **files, int *n)
{
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    int rc = 0;
    if (!root || !json_is_array(root)) {
        rc = -EINVAL;
        goto out;
    }
    size_t i;
    json_t *e;
    json_array_foreach(root, i, e) {
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *path = json_string_value(json_object_get(e, "path"));
        if (!type || strcmp(type, "file") != 0 || !path || !gs_hub_path_ok(path))
            continue;
        if (*n >= GS_HUB_MAX_FILES) {
            rc = -E2BIG;
            goto out;
        }
        *files = gs_mem_realloc(*files, (size_t)(*n + 1) * sizeof **files);
        gs_hub_file *f = &(*files)[(*n)++];
        memset(f, 0, sizeof *f);
        f->path = gs_mem_strdup(path);
        json_t *sz = json_object_get(e, "size");
        f->size = json_is_integer(sz) && json_integer_value(sz) >= 0 ? json_integer_value(sz) : -1;
        json_t *lfs = json_object_get(e, "lfs");
        const char *oid = json_string_value(json_object_get(lfs, "oid"));
        if (oid && strncmp(oid, "sha256:", 7) == 0)
            oid += 7;
        if (oid && hex64(oid)) {
            for (int k = 0; k < 64; k++)
                f->sha256[k] = (char)tolower((unsigned char)oid[k]);
            json_t *ls = json_object_get(lfs, "size");
            if (json_is_integer(ls) && json_integer_value(ls) >= 0)
                f->size = json_integer_value(ls);
        }
    }
out:
    json_decref(root);
    return rc;
}

void gs_hub_files_free(gs_hub_file *files, int n)
{
    for (int i = 0; i < n; i++)
        free(files[i].path);
    free(files);
}

/* ---- choosing files ---- */

static const char *base_of(const char *p)
{
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

/* Split suffix "-KKKKK-of-NNNNN.gguf" at the end (gguf-split's form): its offset, or -1. */
static long split_at(const char *path, int *part, int *total)
{
    size_t n = strlen(path);
    if (n < 21)
        return -1;
    const char *s = path + n - 20;
    if (s[0] != '-' || strncmp(s + 6, "-of-", 4) != 0 || strncasecmp(s + 15, ".gguf", 5) != 0)
        return -1;
    for (int i = 1; i <= 5; i++)
        if (!isdigit((unsigned char)s[i]) || !isdigit((unsigned char)s[i + 9]))
            return -1;
    *part = atoi(s + 1);
    *total = atoi(s + 10);
    if (*part < 1 || *total < 1 || *part > *total)
        return -1;
    return (long)(s - path);
}

/* A model file that stands for a model: not an mmproj, a .gguf, not part k>1 of a split. */
static bool model_head(const gs_hub_file *f)
{
    if (!gs_hub_local_name(f->path) || gs_hub_is_mmproj(f->path))
        return false;
    int part, total;
    return split_at(f->path, &part, &total) < 0 || part == 1;
}

static char *quant_of(const char *path)
{
    char *q = gs_names_quant_from_file(base_of(path));
    return q ? q : gs_mem_strdup("");
}

static int cmp_ci(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

void gs_hub_quants(const gs_hub_file *files, int n, char *out, size_t outlen)
{
    char **q = gs_mem_calloc((size_t)n + 1, sizeof *q);
    int nq = 0;
    for (int i = 0; i < n; i++) {
        if (!model_head(&files[i]))
            continue;
        char *x = quant_of(files[i].path);
        bool dup = !*x;
        for (int k = 0; k < nq && !dup; k++)
            dup = strcasecmp(q[k], x) == 0;
        if (dup)
            free(x);
        else
            q[nq++] = x;
    }
    qsort(q, (size_t)nq, sizeof *q, cmp_ci);
    size_t used = 0;
    if (outlen)
        out[0] = 0;
    for (int k = 0; k < nq; k++) {
        if (used + 1 < outlen) {
            int w = snprintf(out + used, outlen - used, "%s%s", k ? ", " : "", q[k]);
            used += w > 0 ? (size_t)w : 0;
            if (used >= outlen)
                used = outlen - 1;
        }
        free(q[k]);
    }
    free(q);
}

static int find_path(const gs_hub_file *files, int n, const char *path)
{
    for (int i = 0; i < n; i++)
        if (strcmp(files[i].path, path) == 0)
            return i;
    return -1;
}

/* Add head (and its split siblings) to pick. */
static int add_with_parts(const gs_hub_file *files, int n, int head, int *pick, int *np,
                          int maxpick, char *err, size_t errlen)
{
    int part, total;
    long at = split_at(files[head].path, &part, &total);
    if (at < 0) {
        if (*np >= maxpick)
            return fail(err, errlen, -E2BIG, "too many files to fetch");
        pick[(*np)++] = head;
        return 0;
    }
    if (total > maxpick - *np)
        return fail(err, errlen, -E2BIG, "%s has %d parts, more than ggswap fetches (%d)",
                    files[head].path, total, maxpick);
    const char *p = files[head].path;
    const char *ext = p + strlen(p) - 5; /* ".gguf" as written */
    for (int k = 1; k <= total; k++) {
        char want[1100];
        snprintf(want, sizeof want, "%.*s-%05d-of-%.5s%s", (int)at, p, k, p + at + 10, ext);
        int idx = find_path(files, n, want);
        if (idx < 0)
            return fail(err, errlen, -ENOENT,
                        "part %d of %d of %s is missing from the repository (%s)", k, total,
                        base_of(p), want);
        pick[(*np)++] = idx;
    }
    return 0;
}

static int mmproj_rank(const char *path)
{
    static const char *const pref[] = {"f16", "bf16", "q8_0", "f32"};
    char *q = quant_of(path);
    int r = 4;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(q, pref[i]) == 0)
            r = i;
    free(q);
    return r;
}

/* The repo's best mmproj, preferring the model's own folder; -1 when it has none. */
static int pick_mmproj(const gs_hub_file *files, int n, const char *model_path)
{
    const char *ms = strrchr(model_path, '/');
    size_t dl = ms ? (size_t)(ms - model_path + 1) : 0;
    int best = -1, best_score = 0;
    for (int i = 0; i < n; i++) {
        if (!gs_hub_local_name(files[i].path) || !gs_hub_is_mmproj(files[i].path))
            continue;
        const char *fs = strrchr(files[i].path, '/');
        size_t fl = fs ? (size_t)(fs - files[i].path + 1) : 0;
        bool same_dir = fl == dl && strncmp(files[i].path, model_path, dl) == 0;
        int score = (same_dir ? 0 : 10) + mmproj_rank(files[i].path);
        if (best < 0 || score < best_score ||
            (score == best_score && strcmp(files[i].path, files[best].path) < 0)) {
            best = i;
            best_score = score;
        }
    }
    return best;
}

static int pick_head(const gs_hub_file *files, int n, const gs_hub_ref *ref, char *err,
                     size_t errlen)
{
    const char *want = ref->quant[0] ? ref->quant : "Q4_K_M";
    int best = -1, nheads = 0, first = -1;
    bool one_quant = true;
    char *first_q = NULL;
    for (int i = 0; i < n; i++) {
        if (!model_head(&files[i]))
            continue;
        nheads++;
        char *q = quant_of(files[i].path);
        if (strcasecmp(q, want) == 0 && (best < 0 || strcmp(files[i].path, files[best].path) < 0))
            best = i;
        if (!first_q) {
            first_q = q;
            first = i;
            continue;
        }
        if (strcasecmp(q, first_q) != 0)
            one_quant = false;
        else if (strcmp(files[i].path, files[first].path) < 0)
            first = i;
        free(q);
    }
    free(first_q);
    if (best >= 0)
        return best;
    if (nheads == 0)
        return fail(err, errlen, -ENOENT, "%s has no .gguf model files", ref->repo);
    /* A repo of one quant has an obvious default even when it is not Q4_K_M. */
    if (!ref->quant[0] && one_quant)
        return first;
    char q[600];
    gs_hub_quants(files, n, q, sizeof q);
    if (ref->quant[0])
        return fail(err, errlen, -ENOENT, "%s has no %s file; it has: %s (pull %s:QUANT)",
                    ref->repo, ref->quant, q[0] ? q : "files without a quant in their names",
                    ref->repo);
    return fail(err, errlen, -ENOENT,
                "%s has no Q4_K_M file; say which quantisation to pull: %s (pull %s:QUANT)",
                ref->repo, q[0] ? q : "its files have no quant in their names", ref->repo);
}

int gs_hub_select(const gs_hub_file *files, int n, const gs_hub_ref *ref, int *pick, int maxpick,
                  char *err, size_t errlen)
{
    int head, np = 0, rc;
    if (ref->kind == GS_HUB_REF_URL)
        return fail(err, errlen, -EINVAL, "a URL reference has no file listing");
    if (ref->kind == GS_HUB_REF_FILE) {
        head = find_path(files, n, ref->path);
        if (head < 0)
            return fail(err, errlen, -ENOENT, "%s has no file %s (revision %s)", ref->repo,
                        ref->path, ref->rev);
    } else {
        head = pick_head(files, n, ref, err, errlen);
        if (head < 0)
            return head;
    }
    /* A file named as a later split part still brings the whole model. */
    int part, total;
    long at = split_at(files[head].path, &part, &total);
    if (at >= 0 && part != 1) {
        char first[1100];
        const char *p = files[head].path;
        snprintf(first, sizeof first, "%.*s-00001-of-%s", (int)at, p, p + at + 10);
        int idx = find_path(files, n, first);
        if (idx < 0)
            return fail(err, errlen, -ENOENT, "part 1 of %s is missing from the repository",
                        base_of(p));
        head = idx;
    }
    rc = add_with_parts(files, n, head, pick, &np, maxpick, err, errlen);
    if (rc < 0)
        return rc;
    if (!gs_hub_is_mmproj(files[head].path) && np < maxpick) {
        int mm = pick_mmproj(files, n, files[head].path);
        if (mm >= 0)
            pick[np++] = mm;
    }
    return np;
}

/* ---- errors ---- */

void gs_hub_http_error(int status, const char *error_code, const char *hub_msg, const char *what,
                       bool had_token, char *out, size_t outlen)
{
    const char *ec = error_code ? error_code : "";
    char hm[300] = "";
    if (hub_msg && *hub_msg)
        snprintf(hm, sizeof hm, " (the Hub says: %.250s)", hub_msg);
    if (strcasecmp(ec, "GatedRepo") == 0 || ((status == 401 || status == 403) &&
                                            hub_msg && strcasestr(hub_msg, "gated"))) {
        if (had_token)
            snprintf(out, outlen,
                     "%s is a gated repository and your token has no access to it: accept its "
                     "terms on the repository's page on the Hub, then pull again%s",
                     what, hm);
        else
            snprintf(out, outlen,
                     "%s is a gated repository: it needs a Hugging Face token. Set $HF_TOKEN or "
                     "hfToken in settings.yaml (after accepting the terms on the repository's "
                     "page)%s",
                     what, hm);
    } else if (strcasecmp(ec, "EntryNotFound") == 0 || strcasecmp(ec, "RevisionNotFound") == 0) {
        snprintf(out, outlen, "%s was not found on the Hub%s", what, hm);
    } else if (strcasecmp(ec, "RepoNotFound") == 0 || status == 404) {
        snprintf(out, outlen, "%s was not found on the Hub: check the name%s%s", what,
                 had_token ? "" : " (a private repository also needs $HF_TOKEN or hfToken in "
                                  "settings.yaml)",
                 hm);
    } else if (status == 401 || status == 403) {
        snprintf(out, outlen,
                 had_token ? "the Hub refused %s with HTTP %d: your token ($HF_TOKEN or hfToken "
                             "in settings.yaml) is wrong or has no access%s"
                           : "the Hub refused %s with HTTP %d: it needs a token; set $HF_TOKEN or "
                             "hfToken in settings.yaml%s",
                 what, status, hm);
    } else if (status == 429) {
        snprintf(out, outlen,
                 "the Hub is rate limiting these requests (HTTP 429) for %s: wait a few minutes%s"
                 " and pull again%s",
                 what, had_token ? "" : ", or set $HF_TOKEN, which gets higher limits,", hm);
    } else if (status >= 500) {
        snprintf(out, outlen, "the Hub failed with HTTP %d for %s: try again later%s", status,
                 what, hm);
    } else {
        snprintf(out, outlen, "the Hub answered HTTP %d for %s%s", status, what, hm);
    }
}

/* ---- search ---- */

char *gs_hub_search_reduce(const char *json, size_t len, int max)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    if (!root || !json_is_array(root)) {
        json_decref(root);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(root, i, e) {
        if ((int)json_array_size(out) >= max)
            break;
        const char *id = json_string_value(json_object_get(e, "id"));
        if (!id)
            id = json_string_value(json_object_get(e, "modelId"));
        if (!id || strlen(id) > 200)
            continue;
        json_t *d = json_object_get(e, "downloads"), *l = json_object_get(e, "likes");
        json_array_append_new(out, json_pack("{s:s,s:I,s:I}", "id", id, "downloads",
                                             json_is_integer(d) ? json_integer_value(d) : 0,
                                             "likes",
                                             json_is_integer(l) ? json_integer_value(l) : 0));
    }
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    json_decref(root);
    return s;
}
