#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "strv.h"

#define MAX_DEPTH 32          /* deeper folders are not model libraries; stops runaway walks */
#define MAX_FILES 100000      /* .gguf files per scan */

typedef struct fkey {
    dev_t dev;
    ino_t ino;
} fkey;

typedef struct found {
    char *path;
    uint64_t size;
} found;

typedef struct walk {
    fkey *seen;       /* directories and files already visited */
    size_t nseen, capseen;
    found *files;
    size_t nfiles, capfiles;
    gs_scan_result *r;
} walk;


static void problem(gs_scan_result *r, char *msg)
{
    gs_warn("%s", msg);
    gs_strv_push(&r->problems, &r->nproblems, msg);
}

static int cmp_key(const fkey *a, const fkey *b)
{
    if (a->dev != b->dev)
        return a->dev < b->dev ? -1 : 1;
    if (a->ino != b->ino)
        return a->ino < b->ino ? -1 : 1;
    return 0;
}

/* Insert into the sorted set; false when it was already there. */
static bool seen_add(walk *w, dev_t dev, ino_t ino)
{
    fkey k = {dev, ino};
    size_t lo = 0, hi = w->nseen;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_key(&w->seen[mid], &k);
        if (c == 0)
            return false;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (w->nseen == w->capseen) {
        w->capseen = w->capseen ? w->capseen * 2 : 64;
        w->seen = gs_mem_realloc(w->seen, w->capseen * sizeof(*w->seen));
    }
    memmove(&w->seen[lo + 1], &w->seen[lo], (w->nseen - lo) * sizeof(*w->seen));
    w->seen[lo] = k;
    w->nseen++;
    return true;
}

static bool is_gguf(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && !strcasecmp(name + n - 5, ".gguf");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    return gs_mem_printf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

static void walk_dir(walk *w, const char *dir, int depth)
{
    if (depth > MAX_DEPTH) {
        gs_info("scan: %s: more than %d folders deep; not scanned further", dir, MAX_DEPTH);
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            problem(w->r, gs_mem_printf("Cannot read the folder %s (%s); its models are skipped. "
                                        "Check its permissions.", dir, strerror(errno)));
        return;
    }
    char **names = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        /* Hidden entries (".", "..", ".git", ".Trash", partial downloads) are not models. */
        if (de->d_name[0] == '.')
            continue;
        gs_strv_push(&names, &n, gs_mem_strdup(de->d_name));
    }
    closedir(d);
    if (n > 1)
        qsort(names, (size_t)n, sizeof(*names), cmp_str);
    for (int i = 0; i < n; i++) {
        char *path = join(dir, names[i]);
        struct stat st;
        if (stat(path, &st) != 0) {
            struct stat lst;
            if (is_gguf(names[i]) && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
                problem(w->r, gs_mem_printf("%s is a symbolic link to a file that does not exist; "
                                            "skipped.", path));
            else if (is_gguf(names[i]))
                problem(w->r, gs_mem_printf("Cannot open %s (%s); skipped.", path, strerror(errno)));
            free(path);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (seen_add(w, st.st_dev, st.st_ino))
                walk_dir(w, path, depth + 1);
            else
                gs_debug("scan: %s: already scanned (symlink loop or second link)", path);
        } else if (S_ISREG(st.st_mode) && is_gguf(names[i])) {
            if (!seen_add(w, st.st_dev, st.st_ino)) {
                gs_debug("scan: %s: same file as one already found", path);
            } else if (w->nfiles >= MAX_FILES) {
                gs_warn("scan: more than %d .gguf files; %s and later ones skipped", MAX_FILES, path);
            } else {
                if (w->nfiles == w->capfiles) {
                    w->capfiles = w->capfiles ? w->capfiles * 2 : 64;
                    w->files = gs_mem_realloc(w->files, w->capfiles * sizeof(*w->files));
                }
                w->files[w->nfiles++] = (found){path, (uint64_t)st.st_size};
                path = NULL;
            }
        }
        free(path);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static bool utf8_ok(const unsigned char *s)
{
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0 || (n == 1 && *s < 0xc2))
            return false;
        s++;
        for (int i = 0; i < n; i++, s++)
            if ((*s & 0xc0) != 0x80)
                return false;
    }
    return true;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static char *dir_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? gs_mem_strndup(path, (size_t)(s - path)) : gs_mem_strdup(".");
}

/* Lowercase letters and digits only: "mmproj-Gemma-3-4b-it-f16" and "gemma3:4b-it" compare
 * as "mmprojgemma34bitf16" and "gemma34bit". */
static char *squash(const char *s)
{
    char *o = gs_mem_alloc(strlen(s) + 1), *p = o;
    for (; *s; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c += 32;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            *p++ = c;
    }
    *p = 0;
    return o;
}

static int cmp_model(const void *a, const void *b)
{
    return strcmp(((const gs_scan_model *)a)->name, ((const gs_scan_model *)b)->name);
}

/* The model an mmproj file belongs to: among chat models of its folder, the one with the
 * longest name the file name contains, else the first by name; with none in its folder, the
 * longest-named chat model anywhere whose name it contains. -1 when nothing fits. */
static int pair_mmproj(gs_scan_result *r, const char *mmpath)
{
    char *mdir = dir_of(mmpath);
    const char *base = strrchr(mmpath, '/') ? strrchr(mmpath, '/') + 1 : mmpath;
    char *sq = squash(base);
    int best_same = -1, best_match_same = -1, best_match_any = -1;
    size_t len_same = 0, len_any = 0;
    for (int i = 0; i < r->nmodels; i++) {
        gs_scan_model *m = &r->models[i];
        if (m->kind != GS_KIND_CHAT || m->mmproj)
            continue;
        char *d = dir_of(m->path);
        bool same = !strcmp(d, mdir);
        free(d);
        char *mn = squash(m->name);
        size_t l = strlen(mn);
        bool contains = l > 0 && strstr(sq, mn);
        free(mn);
        /* models are sorted by name, so the first hit wins ties */
        if (same && best_same < 0)
            best_same = i;
        if (same && contains && l > len_same)
            best_match_same = i, len_same = l;
        if (contains && l > len_any)
            best_match_any = i, len_any = l;
    }
    free(sq);
    free(mdir);
    if (best_match_same >= 0)
        return best_match_same;
    if (best_same >= 0)
        return best_same;
    return best_match_any;
}

/* One models folder as given: made absolute, remembered in r->dirs, walked when it is a folder. */
static void walk_root(walk *w, const char *given)
{
    gs_scan_result *r = w->r;
    char *d = gs_scan_expand_home(given);
    if (d[0] != '/') {
        /* config.yaml is used from anywhere: its paths must not depend on our cwd. */
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd)) {
            const char *rel = d;
            while (rel[0] == '.' && rel[1] == '/')
                rel += 2;
            char *a = join(cwd, strcmp(rel, ".") ? rel : "");
            free(d);
            d = a;
        }
    }
    size_t dl = strlen(d);
    while (dl > 1 && d[dl - 1] == '/')
        d[--dl] = 0;
    gs_strv_push(&r->dirs, &r->ndirs, d);
    struct stat st;
    if (stat(d, &st) != 0) {
        if (errno == ENOENT)
            gs_info("scan: models folder %s does not exist", d);
        else
            problem(r, gs_mem_printf("Cannot read the folder %s (%s); its models are skipped.",
                                     d, strerror(errno)));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        problem(r, gs_mem_printf("%s is not a folder; give a folder of .gguf files.", d));
        return;
    }
    if (seen_add(w, st.st_dev, st.st_ino))
        walk_dir(w, d, 0);
}

/* The GGUF header of one found file; false (with a problem for the page) when it is skipped. */
static bool read_header(gs_scan_result *r, const found *f, gs_gguf_info *info)
{
    if (!utf8_ok((const unsigned char *)f->path) || has_ctl(f->path)) {
        problem(r, gs_mem_printf("%s: the path is not valid UTF-8 or has control characters, "
                                 "so it cannot go into config.yaml; skipped. Rename it.", f->path));
        return false;
    }
    char *err = NULL;
    int rc = gs_gguf_read(f->path, info, &err);
    if (rc < 0) {
        if (rc == -EACCES || rc == -EPERM)
            problem(r, gs_mem_printf("Cannot read %s (%s); skipped. Check its permissions.",
                                     f->path, strerror(-rc)));
        else {
            /* The reader's message may start with the path already. */
            const char *why = err ? err : strerror(-rc);
            size_t pl = strlen(f->path);
            if (!strncmp(why, f->path, pl) && why[pl] == ':' && why[pl + 1] == ' ')
                why += pl + 2;
            problem(r, gs_mem_printf("%s is not a valid GGUF file (%s); skipped. It may be "
                                     "truncated or still downloading.", f->path, why));
        }
        free(err);
        return false;
    }
    free(err);
    return true;
}

/* The bytes of a split model's other parts: same folder, same prefix, "-0000k-of-N". */
static uint64_t other_parts_size(const walk *w, size_t i)
{
    const char *path = w->files[i].path;
    size_t plen = strlen(path), k = 0, b = 0;
    uint64_t sum = 0;
    for (const char *o = path; (o = strstr(o, "-of-")); o++)
        k = (size_t)(o - path);
    b = k;
    while (b > 0 && path[b - 1] >= '0' && path[b - 1] <= '9')
        b--;
    for (size_t j = 0; k && j < w->nfiles; j++) {
        const char *o = w->files[j].path;
        if (j != i && strlen(o) == plen && !strncmp(o, path, b) && !strcmp(o + k, path + k) &&
            gs_names_split_part(o, NULL, NULL))
            sum += w->files[j].size;
    }
    return sum;
}

int gs_scan_dirs(const char *const *dirs, int ndirs, gs_scan_result *r)
{
    memset(r, 0, sizeof(*r));
    walk w = {.r = r};
    for (int i = 0; i < ndirs; i++)
        walk_root(&w, dirs[i]);
    r->nfiles = (int)w.nfiles;

    char **mm = NULL;
    int nmm = 0;
    gs_names_entry *ne = gs_mem_calloc(w.nfiles + 1, sizeof(*ne));
    char **bases = gs_mem_calloc(w.nfiles + 1, sizeof(*bases));
    r->models = gs_mem_calloc(w.nfiles + 1, sizeof(*r->models));
    for (size_t i = 0; i < w.nfiles; i++) {
        found *f = &w.files[i];
        int part = 1, total = 1;
        if (gs_names_split_part(f->path, &part, &total) && part != 1)
            continue; /* counted into part 1's size below */
        gs_gguf_info info;
        if (!read_header(r, f, &info))
            continue;
        if (info.is_clip) {
            gs_strv_push(&mm, &nmm, gs_mem_strdup(f->path));
            gs_gguf_info_free(&info);
            continue;
        }
        gs_scan_model *m = &r->models[r->nmodels];
        m->path = gs_mem_strdup(f->path);
        m->info = info;
        m->split_total = total;
        m->file_size = f->size;
        if (total > 1)
            m->file_size += other_parts_size(&w, i);
        m->quant = gs_names_quant_from_file(f->path);
        if (!m->quant && gs_gguf_file_type_name(info.file_type))
            m->quant = gs_mem_strdup(gs_gguf_file_type_name(info.file_type));
        m->params = gs_names_params_from_label(info.size_label);
        if (m->params)
            m->params_label = gs_mem_strdup(info.size_label);
        else {
            m->params = info.param_count ? info.param_count : gs_names_params_from_name(f->path);
            m->params_label = gs_names_params_label(m->params);
        }
        m->ctx = info.context_length;
        m->kind = gs_names_kind(info.architecture, info.pooling_type, f->path, false);
        if (m->kind == GS_KIND_EMBEDDING) {
            const char *p = info.pooling_type > 0 ? gs_gguf_pooling_name(info.pooling_type) : NULL;
            m->pooling = p ? p : "mean";
        }
        bases[r->nmodels] = gs_names_from_file(f->path);
        ne[r->nmodels] = (gs_names_entry){.path = m->path, .base = bases[r->nmodels], .quant = m->quant};
        r->nmodels++;
    }
    gs_names_resolve(ne, (size_t)r->nmodels, NULL, 0);
    for (int i = 0; i < r->nmodels; i++) {
        r->models[i].name = ne[i].name;
        free(bases[i]);
    }
    free(bases);
    free(ne);
    if (r->nmodels > 1)
        qsort(r->models, (size_t)r->nmodels, sizeof(*r->models), cmp_model);

    /* mmproj files in path order, so the pairing does not depend on the walk. */
    if (nmm > 1)
        qsort(mm, (size_t)nmm, sizeof(*mm), cmp_str);
    r->nmmproj = nmm;
    for (int i = 0; i < nmm; i++) {
        int k = pair_mmproj(r, mm[i]);
        if (k < 0) {
            gs_info("scan: %s is a projector (mmproj) with no chat model to pair it with", mm[i]);
            free(mm[i]);
            continue;
        }
        r->models[k].mmproj = mm[i];
        r->models[k].kind = GS_KIND_VISION;
    }
    free(mm);

    for (size_t i = 0; i < w.nfiles; i++)
        free(w.files[i].path);
    free(w.files);
    free(w.seen);
    gs_scan_assign_aliases(r, NULL, NULL, 0);
    return 0;
}

void gs_scan_assign_aliases(gs_scan_result *r, const bool *skip, const char *const *reserved,
                            int nreserved)
{
    gs_alias_cand *c = gs_mem_calloc((size_t)r->nmodels + 1, sizeof(*c));
    int *idx = gs_mem_calloc((size_t)r->nmodels + 1, sizeof(*idx));
    int n = 0;
    for (int i = 0; i < r->nmodels; i++) {
        gs_scan_model *m = &r->models[i];
        for (int k = 0; k < m->naliases; k++)
            free(m->aliases[k]);
        free(m->aliases);
        m->aliases = NULL;
        m->naliases = 0;
        if (skip && skip[i])
            continue;
        c[n] = (gs_alias_cand){m->name, m->kind, m->params,
                               gs_names_says_instruct(m->name) || m->info.has_chat_template};
        idx[n++] = i;
    }
    int out[GS_ALIAS_COUNT];
    gs_names_choose_aliases(c, (size_t)n, reserved, (size_t)(nreserved > 0 ? nreserved : 0), out);
    for (int k = 0; k < GS_ALIAS_COUNT; k++)
        if (out[k] >= 0) {
            gs_scan_model *m = &r->models[idx[out[k]]];
            gs_strv_push(&m->aliases, &m->naliases, gs_mem_strdup(gs_names_openai_aliases[k]));
        }
    free(c);
    free(idx);
}

void gs_scan_result_free(gs_scan_result *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nmodels; i++) {
        gs_scan_model *m = &r->models[i];
        free(m->path);
        free(m->name);
        free(m->quant);
        free(m->params_label);
        free(m->mmproj);
        gs_gguf_info_free(&m->info);
        gs_strv_free(m->aliases);
    }
    free(r->models);
    gs_strv_free(r->dirs);
    gs_strv_free(r->problems);
    memset(r, 0, sizeof(*r));
}

char *gs_scan_exe_dir(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return NULL;
    buf[n] = 0;
    char *s = strrchr(buf, '/');
    if (!s)
        return NULL;
    *s = 0;
    return gs_mem_strdup(buf[0] ? buf : "/");
}

char *gs_scan_expand_home(const char *path)
{
    if (path[0] == '~' && (path[1] == 0 || path[1] == '/')) {
        const char *home = getenv("HOME");
        if (home && *home)
            return gs_mem_printf("%s%s", home, path + 1);
    }
    return gs_mem_strdup(path);
}

char **gs_scan_default_dirs(int *n)
{
    char **v = NULL;
    int k = 0;
    gs_strv_push(&v, &k, gs_scan_expand_home("~/.clara/llama-models"));
    char *exe = gs_scan_exe_dir();
    if (exe) {
        gs_strv_push(&v, &k, join(exe, "models"));
        free(exe);
    }
    if (n)
        *n = k;
    return v;
}
