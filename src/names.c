#include "names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

/* ASCII only: file names come from anywhere, and the locale must never change a name. */
static int lc(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static int isdig(int c) { return c >= '0' && c <= '9'; }
static int isalpha_(int c) { c = lc(c); return c >= 'a' && c <= 'z'; }
static int isalnum_(int c) { return isdig(c) || isalpha_(c); }
static int issep(int c) { return c == '-' || c == '_' || c == '.' || c == ' '; }

static const char *base_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static bool ends_with_ci(const char *s, size_t len, const char *suf)
{
    size_t n = strlen(suf);
    if (len < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lc((unsigned char)s[len - n + i]) != lc((unsigned char)suf[i]))
            return false;
    return true;
}

/* Length of the split suffix ("-00001-of-00003") at the end of s[0..len), or 0. */
static size_t split_suffix(const char *s, size_t len, int *part, int *total)
{
    size_t i = len, e;
    e = i;
    while (i > 0 && isdig((unsigned char)s[i - 1]))
        i--;
    if (i == e || e - i > 6 || i < 4 || strncmp(s + i - 4, "-of-", 4) != 0)
        return 0;
    int t = atoi(s + i);
    i -= 4;
    e = i;
    while (i > 0 && isdig((unsigned char)s[i - 1]))
        i--;
    if (i == e || e - i > 6 || i == 0 || !issep((unsigned char)s[i - 1]))
        return 0;
    int p = atoi(s + i);
    if (p < 1 || t < 1 || p > t)
        return 0;
    if (part)
        *part = p;
    if (total)
        *total = t;
    return len - (i - 1);
}

/* Does s[0..n) match a bare quantisation name? Case-insensitive. */
static bool quant_core(const char *s, size_t n)
{
    char t[32];
    if (n == 0 || n >= sizeof t)
        return false;
    for (size_t i = 0; i < n; i++)
        t[i] = (char)lc((unsigned char)s[i]);
    t[n] = 0;
    if (!strcmp(t, "f16") || !strcmp(t, "f32") || !strcmp(t, "f64") || !strcmp(t, "bf16") ||
        !strcmp(t, "fp16") || !strcmp(t, "fp32") || !strcmp(t, "fp8") || !strcmp(t, "fp4"))
        return true;
    const char *p = t;
    if ((p[0] == 'm' && p[1] == 'x') || (p[0] == 'n' && p[1] == 'v')) {
        /* mxfp4, nvfp4 */
        if (p[2] != 'f' || p[3] != 'p' || !isdig((unsigned char)p[4]))
            return false;
        p += 4;
        while (isdig((unsigned char)*p))
            p++;
        return *p == 0;
    }
    /* [it]?q<digits>(_<alnum{1,3}>)*: Q4_K_M, q8_0, IQ4_XS, IQ2_XXS, TQ1_0, Q4_0_4_4, Q4_K_XL, q4 */
    if (*p == 'i' || *p == 't')
        p++;
    if (*p != 'q' || !isdig((unsigned char)p[1]))
        return false;
    p++;
    while (isdig((unsigned char)*p))
        p++;
    while (*p == '_') {
        const char *q = ++p;
        while (isalnum_((unsigned char)*p))
            p++;
        if (p == q || p - q > 3)
            return false;
    }
    return *p == 0;
}

/* Start of the quantisation tag at the end of s[0..len) (the index of its first character; the
 * separator before it is at start-1), or 0 when there is none. Optional "UD-" (Unsloth
 * dynamic) and "i1-" (imatrix) prefixes belong to the tag. */
static size_t quant_start(const char *s, size_t len)
{
    for (size_t i = 1; i < len; i++) {
        if (!issep((unsigned char)s[i - 1]))
            continue;
        size_t j = i;
        if (len - j > 3 && s[j + 2] == '-' &&
            ((lc((unsigned char)s[j]) == 'u' && lc((unsigned char)s[j + 1]) == 'd') ||
             (lc((unsigned char)s[j]) == 'i' && s[j + 1] == '1')))
            j += 3;
        if (quant_core(s + j, len - j))
            return i;
    }
    return 0;
}

/* Length of a trailing release tag "-vN[.N...]" at the end of s[0..len), or 0. */
static size_t release_suffix(const char *s, size_t len)
{
    size_t i = len;
    while (i > 0 && (isdig((unsigned char)s[i - 1]) || s[i - 1] == '.'))
        i--;
    if (i == len || !isdig((unsigned char)s[i]) || !isdig((unsigned char)s[len - 1]))
        return 0;
    if (i < 2 || lc((unsigned char)s[i - 1]) != 'v' || !issep((unsigned char)s[i - 2]))
        return 0;
    if (i - 2 == 0)
        return 0; /* nothing would be left */
    return len - (i - 2);
}

/* The stem of a file name: without .gguf, the split suffix and the quantisation tag. */
static size_t stem_len(const char *b, size_t *qstart)
{
    size_t len = strlen(b);
    if (ends_with_ci(b, len, ".gguf"))
        len -= 5;
    len -= split_suffix(b, len, NULL, NULL);
    size_t q = quant_start(b, len);
    if (qstart)
        *qstart = q;
    if (q)
        len = q - 1;
    return len;
}

/* Append s[0..n) lowercased with separators as single '-', keeping dots between digits. */
static void put_norm(gs_buf *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int c = lc((unsigned char)s[i]);
        bool keep = isalnum_(c) ||
                    (c == '.' && i > 0 && i + 1 < n && isdig((unsigned char)s[i - 1]) &&
                     isdig((unsigned char)s[i + 1]));
        if (keep) {
            gs_buf_append(o, &(char){(char)c}, 1);
        } else if (o->len > 0 && o->data[o->len - 1] != '-') {
            gs_buf_append(o, "-", 1);
        }
    }
}

static void trim_dash(gs_buf *o)
{
    while (o->len > 0 && o->data[o->len - 1] == '-')
        o->data[--o->len] = 0;
}

char *gs_names_from_file(const char *filename)
{
    const char *b = base_of(filename);
    size_t len = stem_len(b, NULL);
    len -= release_suffix(b, len);

    gs_buf o;
    gs_buf_init(&o, 0);
    size_t p = 0;
    while (p < len && !isdig((unsigned char)b[p]))
        p++;
    if (p == len) {
        put_norm(&o, b, len);
        goto out;
    }
    size_t e = p;
    while (e < len && isdig((unsigned char)b[e]))
        e++;
    bool integer = true;
    while (e + 1 < len && b[e] == '.' && isdig((unsigned char)b[e + 1])) {
        integer = false;
        e++;
        while (e < len && isdig((unsigned char)b[e]))
            e++;
    }
    bool size = integer && e < len && (lc((unsigned char)b[e]) == 'b' || lc((unsigned char)b[e]) == 'm') &&
                (e + 1 == len || !isalnum_((unsigned char)b[e + 1]));
    put_norm(&o, b, p);
    trim_dash(&o);
    if (o.len == 0) {
        /* Nothing before the number: there is no head to put before a ':'. */
        put_norm(&o, b, len);
        goto out;
    }
    gs_buf rest;
    gs_buf_init(&rest, 0);
    if (size) {
        gs_buf_puts(&o, ":");
        put_norm(&o, b + p, e + 1 - p);
        put_norm(&rest, b + e + 1, len - e - 1);
    } else {
        gs_buf_append(&o, b + p, e - p);
        put_norm(&rest, b + e, len - e);
    }
    trim_dash(&rest);
    if (rest.len > 0) {
        gs_buf_puts(&o, size ? "-" : ":");
        gs_buf_append(&o, rest.data, rest.len);
    }
    gs_buf_free(&rest);
out:
    trim_dash(&o);
    if (o.len == 0)
        gs_buf_puts(&o, "model");
    /* A leading '-' cannot appear: put_norm never starts with one. */
    return gs_buf_steal(&o);
}

char *gs_names_quant_from_file(const char *filename)
{
    const char *b = base_of(filename);
    size_t len = strlen(b);
    if (ends_with_ci(b, len, ".gguf"))
        len -= 5;
    len -= split_suffix(b, len, NULL, NULL);
    size_t q = quant_start(b, len);
    return q ? gs_mem_strndup(b + q, len - q) : NULL;
}

bool gs_names_split_part(const char *filename, int *part, int *total)
{
    const char *b = base_of(filename);
    size_t len = strlen(b);
    if (ends_with_ci(b, len, ".gguf"))
        len -= 5;
    int p = 0, t = 0;
    if (!split_suffix(b, len, &p, &t))
        return false;
    if (part)
        *part = p;
    if (total)
        *total = t;
    return true;
}

/* Parse "<n>[.<n>][x<n>[.<n>]]<unit>" at s; returns the count or 0, and the end in *end. */
static uint64_t parse_size(const char *s, const char *units, const char **end)
{
    char *e;
    if (!isdig((unsigned char)*s))
        return 0;
    double a = strtod(s, &e), mult = 1;
    if (e == s)
        return 0;
    /* strtod accepts exponents and hex; only plain decimals are sizes. */
    for (const char *c = s; c < e; c++)
        if (!isdig((unsigned char)*c) && *c != '.')
            return 0;
    if (lc((unsigned char)*e) == 'x' && isdig((unsigned char)e[1])) {
        char *e2;
        double b = strtod(e + 1, &e2);
        for (const char *c = e + 1; c < e2; c++)
            if (!isdig((unsigned char)*c) && *c != '.')
                return 0;
        a *= b;
        e = e2;
    }
    const char *u = strchr(units, lc((unsigned char)*e));
    if (!*e || !u)
        return 0;
    switch (*u) {
    case 'k': mult = 1e3; break;
    case 'm': mult = 1e6; break;
    case 'b': mult = 1e9; break;
    case 't': mult = 1e12; break;
    }
    if (end)
        *end = e + 1;
    double v = a * mult + 0.5;
    if (!(v >= 1) || v > 1.8e19)
        return 0;
    return (uint64_t)v;
}

uint64_t gs_names_params_from_name(const char *filename)
{
    const char *b = base_of(filename);
    for (size_t i = 0; b[i]; i++) {
        if (!isdig((unsigned char)b[i]))
            continue;
        if (i > 0 && (isalnum_((unsigned char)b[i - 1]) || b[i - 1] == '.'))
            continue;
        const char *end;
        uint64_t v = parse_size(b + i, "bm", &end);
        if (v && !isalnum_((unsigned char)*end))
            return v;
    }
    return 0;
}

uint64_t gs_names_params_from_label(const char *label)
{
    if (!label)
        return 0;
    while (*label == ' ')
        label++;
    return parse_size(label, "kmbt", NULL);
}

char *gs_names_params_label(uint64_t params)
{
    static const struct { double div; const char *u; } units[] = {
        {1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}, {1, ""}};
    if (params == 0)
        return gs_mem_strdup("");
    for (size_t i = 0; i < GS_ARRAY_LEN(units); i++) {
        if ((double)params < units[i].div && units[i].div > 1)
            continue;
        double v = (double)params / units[i].div;
        char num[32];
        if (v >= 100)
            snprintf(num, sizeof num, "%.0f", v);
        else
            snprintf(num, sizeof num, "%.1f", v);
        size_t n = strlen(num);
        if (n > 2 && !strcmp(num + n - 2, ".0"))
            num[n - 2] = 0;
        return gs_mem_printf("%s%s", num, units[i].u);
    }
    return gs_mem_strdup("");
}

const char *gs_kind_name(gs_kind k)
{
    switch (k) {
    case GS_KIND_CHAT: return "chat";
    case GS_KIND_VISION: return "vision";
    case GS_KIND_EMBEDDING: return "embedding";
    case GS_KIND_RERANKER: return "reranker";
    }
    return "chat";
}

static bool contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && lc((unsigned char)s[i]) == needle[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

bool gs_names_embedding_arch(const char *arch)
{
    static const char *const a[] = {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2",
                                    "jina-bert-v3", "t5encoder", "modern-bert", "neo-bert",
                                    "gemma-embedding", "xlm-roberta", "roberta", "distilbert"};
    if (!arch)
        return false;
    for (size_t i = 0; i < GS_ARRAY_LEN(a); i++)
        if (!strcmp(arch, a[i]))
            return true;
    return false;
}

gs_kind gs_names_kind(const char *arch, int pooling, const char *filename, bool has_mmproj)
{
    const char *b = filename ? base_of(filename) : "";
    if (pooling == 4 || contains_ci(b, "rerank"))
        return GS_KIND_RERANKER;
    if (pooling > 0 || gs_names_embedding_arch(arch) || contains_ci(b, "embed"))
        return GS_KIND_EMBEDDING;
    return has_mmproj ? GS_KIND_VISION : GS_KIND_CHAT;
}

bool gs_names_says_instruct(const char *name)
{
    static const char *const w[] = {"instruct", "chat", "it", "inst", "assistant", "sft",
                                    "dpo", "rlhf", "orpo", "hermes", "zephyr"};
    const char *s = name ? base_of(name) : "";
    while (*s) {
        while (*s && !isalpha_((unsigned char)*s))
            s++;
        const char *t = s;
        while (isalpha_((unsigned char)*s))
            s++;
        size_t n = (size_t)(s - t);
        for (size_t i = 0; n && i < GS_ARRAY_LEN(w); i++) {
            size_t m = strlen(w[i]);
            if (n < m)
                continue;
            size_t k = 0;
            while (k < m && lc((unsigned char)t[k]) == w[i][k])
                k++;
            /* "instruct2", "chatml": a word starting with instruct/chat counts; "it" must be whole. */
            if (k == m && (n == m || m >= 4))
                return true;
        }
    }
    return false;
}

/* ---- collisions ---- */

static bool in_list(const char *s, const char *const *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (l[i] && !strcmp(s, l[i]))
            return true;
    return false;
}

static const gs_names_entry *sort_base;
static int cmp_path(const void *a, const void *b)
{
    const gs_names_entry *x = &sort_base[*(const size_t *)a], *y = &sort_base[*(const size_t *)b];
    int c = strcmp(x->path ? x->path : "", y->path ? y->path : "");
    if (c)
        return c;
    c = strcmp(x->base, y->base);
    return c ? c : (*(const size_t *)a < *(const size_t *)b ? -1 : 1);
}

/* The names given out so far (and the reserved ones), hashed: with 1,000 files, comparing each
 * candidate with every other name was most of a scan's time. Strings are borrowed. */
typedef struct nset {
    const char **v;
    size_t cap;            /* a power of two, at least twice what it holds */
} nset;

static size_t nhash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (size_t)h;
}

static void nset_init(nset *t, size_t n)
{
    t->cap = 16;
    while (t->cap < 2 * n + 2)
        t->cap *= 2;
    t->v = gs_mem_calloc(t->cap, sizeof *t->v);
}

static bool nset_has(const nset *t, const char *s)
{
    for (size_t i = nhash(s) & (t->cap - 1); t->v[i]; i = (i + 1) & (t->cap - 1))
        if (!strcmp(t->v[i], s))
            return true;
    return false;
}

/* The set is sized for every entry and reserved name, so it never fills. */
static void nset_add(nset *t, const char *s)
{
    size_t i = nhash(s) & (t->cap - 1);
    while (t->v[i] && strcmp(t->v[i], s))
        i = (i + 1) & (t->cap - 1);
    t->v[i] = s;
}

/* s is a reserved name or one given out, or (any_cand) the candidate of an entry still without
 * a name. */
static bool taken(const char *s, const nset *given, gs_names_entry *e, size_t n, size_t self,
                  char **cand, bool any_cand)
{
    if (nset_has(given, s))
        return true;
    for (size_t i = 0; any_cand && i < n; i++)
        if (i != self && !e[i].name && !strcmp(cand[i], s))
            return true;
    return false;
}

static const char *const *cmp_cand;
static int cmp_by_cand(const void *a, const void *b)
{
    return strcmp(cmp_cand[*(const size_t *)a], cmp_cand[*(const size_t *)b]);
}

void gs_names_resolve(gs_names_entry *e, size_t n, const char *const *reserved, size_t nreserved)
{
    if (n == 0)
        return;
    size_t *ord = gs_mem_calloc(n, sizeof *ord);
    char **cand = gs_mem_calloc(n, sizeof *cand);
    for (size_t i = 0; i < n; i++) {
        ord[i] = i;
        e[i].name = NULL;
    }
    sort_base = e;
    qsort(ord, n, sizeof *ord, cmp_path);
    sort_base = NULL;

    /* how many entries share each base name: sorted, then counted in runs */
    const char **bases = gs_mem_calloc(n, sizeof *bases);
    size_t *by_base = gs_mem_calloc(n, sizeof *by_base), *same_of = gs_mem_calloc(n, sizeof *same_of);
    for (size_t i = 0; i < n; i++) {
        bases[i] = e[i].base;
        by_base[i] = i;
    }
    cmp_cand = bases;
    qsort(by_base, n, sizeof *by_base, cmp_by_cand);
    cmp_cand = NULL;
    for (size_t k = 0, run; k < n; k += run) {
        for (run = 1; k + run < n && !strcmp(bases[by_base[k]], bases[by_base[k + run]]); run++)
            ;
        for (size_t j = 0; j < run; j++)
            same_of[by_base[k + j]] = run;
    }
    free(bases);
    free(by_base);
    for (size_t i = 0; i < n; i++) {
        size_t same = same_of[i];
        if (same > 1 && e[i].quant && *e[i].quant) {
            gs_buf b;
            gs_buf_init(&b, 0);
            gs_buf_printf(&b, "%s-", e[i].base);
            for (const char *q = e[i].quant; *q; q++) {
                int c = lc((unsigned char)*q);
                gs_buf_append(&b, &(char){isalnum_(c) || c == '_' || c == '.' ? (char)c : '-'}, 1);
            }
            cand[i] = gs_buf_steal(&b);
        } else {
            cand[i] = gs_mem_strdup(e[i].base);
        }
    }
    free(same_of);
    nset given;
    nset_init(&given, n + nreserved);
    for (size_t i = 0; i < nreserved; i++)
        if (reserved[i])
            nset_add(&given, reserved[i]);
    /* Unique candidates keep their name; the first (by path) of equal ones keeps it too. */
    for (size_t k = 0; k < n; k++) {
        size_t i = ord[k];
        if (!taken(cand[i], &given, e, n, i, cand, false)) {
            e[i].name = gs_mem_strdup(cand[i]);
            nset_add(&given, e[i].name);
        }
    }
    /* That gave out names in path order, so a later duplicate was refused above. Number the rest
     * without ever taking a name another file would get. */
    int *used = gs_mem_calloc(n, sizeof(*used)); /* the number an entry got, so that 1,000
                                                   * copies of one name stay quadratic, not cubic */
    for (size_t k = 0; k < n; k++) {
        size_t i = ord[k];
        if (e[i].name)
            continue;
        int m = 2;
        for (size_t j = 0; j < k; j++)
            if (used[ord[j]] >= m && !strcmp(cand[ord[j]], cand[i]))
                m = used[ord[j]] + 1;
        for (;; m++) {
            char *s = gs_mem_printf("%s-%d", cand[i], m);
            if (!taken(s, &given, e, n, i, cand, true)) {
                e[i].name = s;
                nset_add(&given, s);
                used[i] = m;
                break;
            }
            free(s);
        }
    }
    free(used);
    free(given.v);
    for (size_t i = 0; i < n; i++)
        free(cand[i]);
    free(cand);
    free(ord);
}

/* ---- aliases ---- */

const char *const gs_names_openai_aliases[GS_ALIAS_COUNT] = {
    "gpt-4", "gpt-3.5-turbo", "text-davinci-003", "text-embedding-ada-002"};

static bool is_chatty(const gs_alias_cand *c) { return c->kind == GS_KIND_CHAT || c->kind == GS_KIND_VISION; }

/* Is a better than b? sign +1 prefers larger params, -1 smaller; ties go to the smaller name. */
static bool better(const gs_alias_cand *a, const gs_alias_cand *b, int sign)
{
    if (a->params != b->params)
        return sign > 0 ? a->params > b->params : a->params < b->params;
    return strcmp(a->name, b->name) < 0;
}

void gs_names_choose_aliases(const gs_alias_cand *c, size_t n, const char *const *reserved,
                             size_t nreserved, int out[GS_ALIAS_COUNT])
{
    for (int k = 0; k < GS_ALIAS_COUNT; k++)
        out[k] = -1;
    for (size_t i = 0; i < n; i++) {
        const gs_alias_cand *m = &c[i];
        if (is_chatty(m) && m->params >= 4000000000ULL &&
            (out[GS_ALIAS_GPT4] < 0 || better(m, &c[out[GS_ALIAS_GPT4]], 1)))
            out[GS_ALIAS_GPT4] = (int)i;
        if (is_chatty(m) && m->params > 0 && m->params < 4000000000ULL &&
            (out[GS_ALIAS_GPT35_TURBO] < 0 || better(m, &c[out[GS_ALIAS_GPT35_TURBO]], -1)))
            out[GS_ALIAS_GPT35_TURBO] = (int)i;
        if (is_chatty(m) && m->instruct &&
            (out[GS_ALIAS_DAVINCI] < 0 || better(m, &c[out[GS_ALIAS_DAVINCI]], 1)))
            out[GS_ALIAS_DAVINCI] = (int)i;
        if (m->kind == GS_KIND_EMBEDDING &&
            (out[GS_ALIAS_EMBEDDING_ADA] < 0 || strcmp(m->name, c[out[GS_ALIAS_EMBEDDING_ADA]].name) < 0))
            out[GS_ALIAS_EMBEDDING_ADA] = (int)i;
    }
    for (int k = 0; k < GS_ALIAS_COUNT; k++) {
        if (out[k] < 0)
            continue;
        if (in_list(gs_names_openai_aliases[k], reserved, nreserved))
            out[k] = -1;
        for (size_t i = 0; i < n && out[k] >= 0; i++)
            if (!strcmp(c[i].name, gs_names_openai_aliases[k]))
                out[k] = -1;
    }
}

const char *gs_names_invalid(const char *s, size_t n)
{
    if (!s || n == 0)
        return "cannot be empty";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return "cannot hold control characters";
        if (ch == '"' || ch == '\\')
            return "cannot hold quotes or backslashes";
    }
    return NULL;
}
