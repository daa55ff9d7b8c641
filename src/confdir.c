#include "confdir.h"

#include <dirent.h>
#include <errno.h>
#include <libfyaml.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "mem.h"
#include "strv.h"
#include "yaml.h"

#define MAX_SOURCES 1024
#define MAX_FILE (16u * 1024 * 1024)
#define MAX_DEPTH 64

typedef struct source {
    char *path;
    char *text;
    struct fy_document *doc;
} source;

/* A node copied into the merged document, and the source it came from. */
typedef struct origin {
    struct fy_node *node;
    int src;
} origin;

typedef struct merger {
    gs_diag *d;
    const char *src_path; /* the file being merged in */
    int src_idx;
    struct fy_document *dst_doc;
    int failed;
    origin *orig;         /* every copy made, to tell later where a merged line came from */
    size_t norig, corig;
} merger;

/* Where each line of the merged text came from: source index and line (src -1: unknown). */
typedef struct linemap {
    char **paths;
    int npaths;
    int *src, *line;
    int n;                /* lines 1..n-1 */
} linemap;

/* Copy src into the merged document, remembering which file it came from. */
static struct fy_node *copy(merger *m, struct fy_node *src)
{
    struct fy_node *n = fy_node_copy(m->dst_doc, src);
    if (m->norig == m->corig) {
        m->corig = m->corig ? m->corig * 2 : 64;
        m->orig = gs_mem_realloc(m->orig, m->corig * sizeof *m->orig);
    }
    m->orig[m->norig++] = (origin){n, m->src_idx};
    return n;
}

static const char *const identity_maps[] = {
    "models", "groups", "profiles", "selectors", "peers", "matrix",
    "routing.router.settings.groups", "routing.router.settings.matrix",
};

static bool is_identity(const char *path)
{
    for (size_t i = 0; i < GS_ARRAY_LEN(identity_maps); i++)
        if (strcmp(path, identity_maps[i]) == 0)
            return true;
    return false;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.yaml / *.yml files directly in dir, sorted; -errno when dir cannot be read. */
static int list_dir(const char *dir, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    DIR *dp = opendir(dir);
    if (!dp)
        return -errno;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dp))) {
        if (!has_suffix(e->d_name, ".yaml") && !has_suffix(e->d_name, ".yml"))
            continue;
        char *p = gs_mem_printf("%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) < 0 || S_ISDIR(st.st_mode) || *n >= MAX_SOURCES) {
            if (*n >= MAX_SOURCES)
                rc = -E2BIG;
            free(p);
            continue;
        }
        gs_strv_push(out, n, p);
    }
    closedir(dp);
    if (*n > 1)
        qsort(*out, (size_t)*n, sizeof **out, cmp_str);
    return rc;
}

static bool null_node(struct fy_node *n)
{
    if (!n || fy_node_is_null(n))
        return true;
    size_t len = 0;
    return fy_node_is_scalar(n) && fy_node_get_style(n) == FYNS_PLAIN &&
           fy_node_get_scalar(n, &len) && len == 0;
}

static struct fy_node_pair *find_pair(struct fy_node *map, const char *k, size_t klen)
{
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(map, &it))) {
        size_t l;
        const char *s = gs_yaml_scalar(fy_node_pair_key(p), &l);
        if (l == klen && memcmp(s, k, l) == 0)
            return p;
    }
    return NULL;
}

static void conflict(merger *m, struct fy_node *src, const char *path, const char *what)
{
    gs_diag_add(m->d, true, m->src_path, gs_yaml_line(src),
                "%s: %s (-config-dir merges files: keys that name a model, group, peer... may "
                "appear in one file only, and settings must agree)",
                path, what);
    m->failed = 1;
}

static void merge_map(merger *m, struct fy_node *dst, struct fy_node *src, const char *path,
                      int depth);

static void merge_value(merger *m, struct fy_node_pair *dp, struct fy_node *src,
                        const char *path, int depth)
{
    struct fy_node *dst = fy_node_pair_value(dp);
    if (null_node(src))
        return;
    if (null_node(dst)) {
        fy_node_pair_set_value(dp, copy(m, src));
        return;
    }
    if (fy_node_is_mapping(dst) && fy_node_is_mapping(src)) {
        merge_map(m, dst, src, path, depth + 1);
    } else if (fy_node_is_sequence(dst) && fy_node_is_sequence(src)) {
        void *it = NULL;
        struct fy_node *item;
        while ((item = fy_node_sequence_iterate(src, &it)))
            fy_node_sequence_append(dst, copy(m, item));
    } else if (fy_node_is_scalar(dst) && fy_node_is_scalar(src)) {
        size_t a, b;
        const char *x = fy_node_get_scalar(dst, &a), *y = fy_node_get_scalar(src, &b);
        if (a != b || (a && memcmp(x, y, a) != 0)) {
            char what[300];
            snprintf(what, sizeof what, "set to '%.*s' here but to '%.*s' in an earlier file",
                     (int)(b > 100 ? 100 : b), y, (int)(a > 100 ? 100 : a), x);
            conflict(m, src, path, what);
        }
    } else {
        conflict(m, src, path, "a mapping, a list and a value cannot be merged");
    }
}

static void merge_map(merger *m, struct fy_node *dst, struct fy_node *src, const char *path,
                      int depth)
{
    if (depth > MAX_DEPTH) {
        conflict(m, src, path, "nested too deeply");
        return;
    }
    bool identity = is_identity(path);
    void *it = NULL;
    struct fy_node_pair *sp;
    while ((sp = fy_node_mapping_iterate(src, &it)) && !m->failed) {
        size_t kl;
        struct fy_node *sk = fy_node_pair_key(sp);
        const char *k = gs_yaml_scalar(sk, &kl);
        char *child = *path ? gs_mem_printf("%s.%.*s", path, (int)kl, k)
                            : gs_mem_printf("%.*s", (int)kl, k);
        struct fy_node_pair *dp = find_pair(dst, k, kl);
        if (!dp) {
            struct fy_node *kc = copy(m, sk);
            fy_node_mapping_append(dst, kc, copy(m, fy_node_pair_value(sp)));
        } else if (identity) {
            char what[200];
            snprintf(what, sizeof what, "'%.*s' is already defined in an earlier file",
                     (int)(kl > 100 ? 100 : kl), k);
            conflict(m, sk, child, what);
        } else if (is_identity(child) &&
                   !(fy_node_is_mapping(fy_node_pair_value(dp)) &&
                     fy_node_is_mapping(fy_node_pair_value(sp))) &&
                   !null_node(fy_node_pair_value(dp)) && !null_node(fy_node_pair_value(sp))) {
            conflict(m, sk, child, "expected a mapping in both files");
        } else {
            merge_value(m, dp, fy_node_pair_value(sp), child, depth);
        }
        free(child);
    }
}

static int read_source(source *s, gs_diag *d)
{
    FILE *f = fopen(s->path, "rb");
    if (!f) {
        int rc = -errno;
        gs_diag_add(d, true, s->path, 0, "cannot open: %s", strerror(-rc));
        return rc;
    }
    gs_buf b;
    gs_buf_init(&b, MAX_FILE);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (gs_buf_append(&b, chunk, n) < 0) {
            gs_diag_add(d, true, s->path, 0, "larger than %u MiB", MAX_FILE >> 20);
            rc = -E2BIG;
            break;
        }
    fclose(f);
    if (rc < 0) {
        gs_buf_free(&b);
        return rc;
    }
    s->text = b.data ? gs_buf_steal(&b) : gs_mem_strdup("");
    rc = gs_yaml_parse(s->text, strlen(s->text), s->path, d, &s->doc);
    if (rc == -ENOMEM)
        return rc;
    if (rc == 0 && s->doc && fy_document_resolve(s->doc) != 0) {
        gs_diag_add(d, true, s->path, 1, "yaml: cannot resolve an alias or merge key");
        rc = -EINVAL;
    }
    struct fy_node *root = s->doc && rc == 0 ? fy_document_root(s->doc) : NULL;
    if (rc == 0 && root && !null_node(root) && !fy_node_is_mapping(root)) {
        gs_diag_add(d, true, s->path, gs_yaml_line(root), "the top level must be a mapping of keys");
        rc = -EINVAL;
    }
    return rc;
}

/* ---- where a merged line came from ---- */

static int cmp_origin(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const origin *)a)->node, y = (uintptr_t)((const origin *)b)->node;
    return x < y ? -1 : x > y;
}

static int origin_of(const merger *m, struct fy_node *n, int inherited)
{
    origin key = {n, 0};
    const origin *o = bsearch(&key, m->orig, m->norig, sizeof *m->orig, cmp_origin);
    return o ? o->src : inherited;
}

static void map_line(linemap *lm, struct fy_node *merged, struct fy_node *dst, int src)
{
    int l = gs_yaml_line(merged);
    if (l > 0 && l < lm->n && lm->src[l] < 0) {
        lm->src[l] = src;
        lm->line[l] = gs_yaml_line(dst);
    }
}

/* Walk the merged text's tree (re-read) beside the merged document it was written from: same
 * shape, and the document's nodes still carry their source's line marks (copies keep their
 * tokens); the file is that of the nearest copied ancestor, else the first source's. */
static void map_walk(const merger *m, linemap *lm, struct fy_node *mt, struct fy_node *dst,
                     int src, int depth)
{
    if (!mt || !dst || depth > MAX_DEPTH)
        return;
    src = origin_of(m, dst, src);
    if (fy_node_is_scalar(mt)) {
        map_line(lm, mt, dst, src);
    } else if (fy_node_is_mapping(mt) && fy_node_is_mapping(dst)) {
        void *i1 = NULL, *i2 = NULL;
        struct fy_node_pair *a, *b;
        while ((a = fy_node_mapping_iterate(mt, &i1)) && (b = fy_node_mapping_iterate(dst, &i2))) {
            int ks = origin_of(m, fy_node_pair_key(b), src);
            map_walk(m, lm, fy_node_pair_key(a), fy_node_pair_key(b), ks, depth + 1);
            map_walk(m, lm, fy_node_pair_value(a), fy_node_pair_value(b), ks, depth + 1);
        }
    } else if (fy_node_is_sequence(mt) && fy_node_is_sequence(dst)) {
        void *i1 = NULL, *i2 = NULL;
        struct fy_node *a, *b;
        while ((a = fy_node_sequence_iterate(mt, &i1)) && (b = fy_node_sequence_iterate(dst, &i2)))
            map_walk(m, lm, a, b, src, depth + 1);
    }
}

static void build_map(merger *m, linemap *lm, const char *text, struct fy_document *dst,
                      int base)
{
    int lines = 2;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    lm->n = lines;
    lm->src = gs_mem_alloc((size_t)lines * sizeof *lm->src);
    lm->line = gs_mem_calloc((size_t)lines, sizeof *lm->line);
    for (int i = 0; i < lines; i++)
        lm->src[i] = -1;
    qsort(m->orig, m->norig, sizeof *m->orig, cmp_origin);
    gs_diag quiet = {0};
    struct fy_document *mt = NULL;
    if (gs_yaml_parse(text, strlen(text), "merged", &quiet, &mt) == 0 && mt)
        map_walk(m, lm, fy_document_root(mt), fy_document_root(dst), base, 0);
    if (mt)
        fy_document_destroy(mt);
    gs_diag_free(&quiet);
}

static void linemap_free(linemap *lm)
{
    gs_strv_free_n(lm->paths, lm->npaths);
    free(lm->src);
    free(lm->line);
}

/* The loader's messages about the merged text ("NAME:LINE: ...", from index from on) name the
 * file and line that the key came from instead; true when every such message could be. */
static bool remap(gs_diag *d, int from, const char *name, const linemap *lm)
{
    size_t nl = strlen(name);
    bool all = true;
    for (int i = from; i < d->n; i++) {
        char *msg = d->msgs[i], *end;
        if (strncmp(msg, name, nl) != 0 || msg[nl] != ':' || msg[nl + 1] < '0' || msg[nl + 1] > '9')
            continue;
        long l = strtol(msg + nl + 1, &end, 10);
        if (*end != ':' || l <= 0 || l >= lm->n || lm->src[l] < 0 || lm->line[l] <= 0) {
            all = false;
            continue;
        }
        d->msgs[i] = gs_mem_printf("%s:%d%s", lm->paths[lm->src[l]], lm->line[l], end);
        free(msg);
    }
    return all;
}

static char *merge(const char *file, const char *dir, gs_diag *d, linemap *lm);

char *gs_confdir_merge(const char *file, const char *dir, gs_diag *d)
{
    return merge(file, dir, d, NULL);
}

static char *merge(const char *file, const char *dir, gs_diag *d, linemap *lm)
{
    merger m = {.d = d};
    char **files = NULL;
    int nfiles = 0, rc;
    source *src = NULL;
    int nsrc = 0;
    char *out = NULL;
    if ((rc = list_dir(dir, &files, &nfiles)) < 0 && rc != -E2BIG) {
        gs_diag_add(d, true, dir, 0, "-config-dir: cannot read the folder: %s", strerror(-rc));
        goto out;
    }
    if (rc == -E2BIG)
        gs_diag_add(d, false, dir, 0, "-config-dir: only the first %d files are read",
                    MAX_SOURCES);
    char *rfile = file ? realpath(file, NULL) : NULL;
    for (int i = 0; rfile && i < nfiles; i++) {
        char *r = realpath(files[i], NULL);
        bool same = r && strcmp(r, rfile) == 0;
        free(r);
        if (same) {
            gs_diag_add(d, true, file, 0,
                        "-config %s is also in -config-dir %s: remove it from one of them", file,
                        dir);
            free(rfile);
            goto out;
        }
    }
    free(rfile);
    src = gs_mem_calloc((size_t)nfiles + 2, sizeof *src);
    if (file)
        src[nsrc++].path = gs_mem_strdup(file);
    for (int i = 0; i < nfiles; i++)
        src[nsrc++].path = gs_mem_strdup(files[i]);
    if (nsrc == 0) {
        gs_diag_add(d, true, dir, 0, "-config-dir: no *.yaml or *.yml files in the folder");
        goto out;
    }
    bool bad = false;
    for (int i = 0; i < nsrc; i++)
        if (read_source(&src[i], d) < 0)
            bad = true;
    if (bad)
        goto out;
    int base = -1;
    for (int i = 0; i < nsrc && !m.failed; i++) {
        struct fy_node *root = src[i].doc ? fy_document_root(src[i].doc) : NULL;
        if (null_node(root))
            continue; /* empty, or only comments */
        if (base < 0) {
            base = i;
            m.dst_doc = src[i].doc;
            continue;
        }
        m.src_path = src[i].path;
        m.src_idx = i;
        merge_map(&m, fy_document_root(m.dst_doc), root, "", 0);
    }
    if (m.failed)
        goto out;
    if (base < 0) {
        out = gs_mem_strdup("");
        goto out;
    }
    char *t = fy_emit_document_to_string(m.dst_doc, FYECF_MODE_BLOCK | FYECF_WIDTH_INF);
    if (!t) {
        gs_diag_add(d, true, dir, 0, "-config-dir: cannot write the merged config");
        goto out;
    }
    out = gs_mem_strdup(t);
    free(t);
    if (lm) {
        for (int i = 0; i < nsrc; i++)
            gs_strv_push(&lm->paths, &lm->npaths, gs_mem_strdup(src[i].path));
        build_map(&m, lm, out, m.dst_doc, base);
    }
out:
    free(m.orig);
    for (int i = 0; i < nsrc; i++) {
        if (src[i].doc)
            fy_document_destroy(src[i].doc);
        free(src[i].text);
        free(src[i].path);
    }
    free(src);
    gs_strv_free_n(files, nfiles);
    return out;
}

int gs_confdir_load(const char *file, const char *dir, gs_config **out, gs_diag *d)
{
    *out = NULL;
    if (!dir)
        return gs_config_load(file, out, d);
    linemap lm = {0};
    char *text = merge(file, dir, d, &lm);
    if (!text) {
        linemap_free(&lm);
        return -EINVAL;
    }
    char *name = file ? gs_mem_printf("%s + %s/*.yaml (merged)", file, dir)
                      : gs_mem_printf("%s/*.yaml (merged)", dir);
    int from = d->n;
    int rc = gs_config_parse(text, strlen(text), name, out, d);
    if (!remap(d, from, name, &lm))
        gs_diag_add(d, false, name, 0,
                    "the line numbers above are those of the merged config; each key's path "
                    "names what to fix in the file that defines it");
    free(name);
    free(text);
    linemap_free(&lm);
    return rc;
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t stat_mix(uint64_t h, const char *path)
{
    struct stat st;
    h = mix(h, path, strlen(path) + 1);
    if (stat(path, &st) == 0) {
        h = mix(h, &st.st_size, sizeof st.st_size);
        h = mix(h, &st.st_mtim, sizeof st.st_mtim);
        h = mix(h, &st.st_ino, sizeof st.st_ino);
    }
    return h;
}

uint64_t gs_confdir_fingerprint(const char *file, const char *dir)
{
    uint64_t h = 14695981039346656037ull;
    if (file)
        h = stat_mix(h, file);
    char **files = NULL;
    int n = 0;
    if (dir)
        list_dir(dir, &files, &n);
    for (int i = 0; i < n; i++)
        h = stat_mix(h, files[i]);
    gs_strv_free_n(files, n);
    return h;
}
