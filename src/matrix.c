#include "matrix.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* Bounds that keep hostile configs cheap: the DSL is a line of a config file, not a program. */
#define MAX_DSL 65536
#define MAX_NEST 100     /* parentheses inside one set */
#define MAX_SETS 1024
#define MAX_DEPTH 2000   /* nesting through inlined sets, for the recursive evaluator */
#define MAX_STATES 1024  /* combinations kept per node; past it the solver may evict more */

enum { N_LEAF, N_REF, N_AND, N_OR };

typedef struct mnode {
    int kind;
    int val;   /* N_LEAF: model index; N_REF: definition index of the inlined set */
    int ref;   /* N_REF: root node of the inlined set */
    int *kids; /* node indexes */
    int nkids;
} mnode;

typedef struct mset {
    char *name;
    char *dsl;
    int root;            /* node index */
    uint64_t *support;   /* every model the set can name, nmodels bits */
} mset;

struct gs_matrix {
    mnode *nodes;
    int nnodes, capnodes;
    mset *sets;          /* in solving order: a set after the sets it inlines */
    int nsets;
    int nmodels;
    int mwords;          /* words of a bitset over all models */
};

/* ---- tokens ---- */

enum { T_IDENT, T_AND, T_OR, T_LP, T_RP, T_REF, T_EOF };

typedef struct tok {
    int type;
    int pos;   /* byte offset in the expression */
    int len;   /* identifier length (without '+') */
    const char *s;
} tok;

static bool ident_char(unsigned char c)
{
    /* As llama-swap: letters, digits, '_', '-', '.'; bytes of UTF-8 sequences count as letters.
     * No '/' or ':' (such model ids need a var). */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c >= 0x80;
}

static bool space_char(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void shown_char(char *out, size_t n, unsigned char c)
{
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
        snprintf(out, n, "'%c'", c);
    else
        snprintf(out, n, "byte 0x%02x", c);
}

static int tokenize(const char *s, size_t len, tok **out, int *nout, char *err, size_t errlen)
{
    int cap = 16, n = 0;
    tok *t = gs_mem_alloc(sizeof *t * (size_t)cap);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (space_char(c)) {
            i++;
            continue;
        }
        if (n + 2 > cap) {
            cap *= 2;
            t = gs_mem_realloc(t, sizeof *t * (size_t)cap);
        }
        tok k = {.pos = (int)i, .s = s + i};
        switch (c) {
        case '&': k.type = T_AND; i++; break;
        case '|': k.type = T_OR; i++; break;
        case '(': k.type = T_LP; i++; break;
        case ')': k.type = T_RP; i++; break;
        case '+': {
            size_t st = ++i;
            while (i < len && ident_char((unsigned char)s[i]))
                i++;
            if (i == st) {
                snprintf(err, errlen, "tokenize: expected set name after '+' at position %zu", st);
                free(t);
                return -EINVAL;
            }
            k.type = T_REF;
            k.s = s + st;
            k.len = (int)(i - st);
            break;
        }
        default: {
            if (!ident_char(c)) {
                char ch[16];
                shown_char(ch, sizeof ch, c);
                snprintf(err, errlen, "tokenize: unexpected character %s at position %zu", ch, i);
                free(t);
                return -EINVAL;
            }
            size_t st = i;
            while (i < len && ident_char((unsigned char)s[i]))
                i++;
            k.type = T_IDENT;
            k.len = (int)(i - st);
            break;
        }
        }
        t[n++] = k;
    }
    t[n] = (tok){.type = T_EOF, .pos = (int)len, .s = s + len};
    *out = t;
    *nout = n + 1;
    return 0;
}

/* ---- parser: or := and ('|' and)*; and := atom ('&' atom)*; atom := ident | +ref | (or) ---- */

/* A parse tree before names are resolved: leaves and refs keep their token. */
typedef struct pnode {
    int kind;
    const tok *t;
    int *kids;
    int nkids;
} pnode;

typedef struct parser {
    const tok *t;
    int pos, ntok;
    pnode *n;
    int nn, capn;
    int nest;
    char *err;
    size_t errlen;
} parser;

static int pnew(parser *p, int kind, const tok *t)
{
    if (p->nn == p->capn) {
        p->capn = p->capn ? p->capn * 2 : 16;
        p->n = gs_mem_realloc(p->n, sizeof *p->n * (size_t)p->capn);
    }
    p->n[p->nn] = (pnode){.kind = kind, .t = t};
    return p->nn++;
}

static void padd(parser *p, int parent, int kid)
{
    pnode *n = &p->n[parent];
    n->kids = gs_mem_realloc(n->kids, sizeof *n->kids * (size_t)(n->nkids + 1));
    n->kids[n->nkids++] = kid;
}

static const tok *peek(parser *p)
{
    return &p->t[p->pos < p->ntok ? p->pos : p->ntok - 1];
}

static const tok *next(parser *p)
{
    const tok *t = peek(p);
    if (t->type != T_EOF)
        p->pos++;
    return t;
}

static void tok_text(const tok *t, char *out, size_t n)
{
    switch (t->type) {
    case T_EOF: snprintf(out, n, "end of expression"); break;
    case T_IDENT: snprintf(out, n, "\"%.*s\"", t->len > 64 ? 64 : t->len, t->s); break;
    case T_REF: snprintf(out, n, "\"+%.*s\"", t->len > 64 ? 64 : t->len, t->s); break;
    default: snprintf(out, n, "\"%c\"", *t->s); break;
    }
}

static int parse_or(parser *p);

static int parse_atom(parser *p)
{
    const tok *t = next(p);
    char what[96];
    switch (t->type) {
    case T_IDENT: return pnew(p, N_LEAF, t);
    case T_REF: return pnew(p, N_REF, t);
    case T_LP: {
        if (++p->nest > MAX_NEST) {
            snprintf(p->err, p->errlen, "parse: more than %d nested parentheses", MAX_NEST);
            return -1;
        }
        int r = parse_or(p);
        if (r < 0)
            return -1;
        p->nest--;
        if (next(p)->type != T_RP) {
            snprintf(p->err, p->errlen, "parse: missing closing parenthesis");
            return -1;
        }
        return r;
    }
    default:
        tok_text(t, what, sizeof what);
        snprintf(p->err, p->errlen, "parse: unexpected token %s at position %d", what, t->pos);
        return -1;
    }
}

/* One level of a binary operator: a single operand stays as it is, more become one node. */
static int parse_level(parser *p, int op_tok, int kind, int (*operand)(parser *))
{
    int left = operand(p);
    if (left < 0 || peek(p)->type != op_tok)
        return left;
    int n = pnew(p, kind, NULL);
    padd(p, n, left);
    while (peek(p)->type == op_tok) {
        next(p);
        int r = operand(p);
        if (r < 0)
            return -1;
        padd(p, n, r);
    }
    return n;
}

static int parse_and(parser *p)
{
    return parse_level(p, T_AND, N_AND, parse_atom);
}

static int parse_or(parser *p)
{
    return parse_level(p, T_OR, N_OR, parse_and);
}

static void parser_free(parser *p)
{
    for (int i = 0; i < p->nn; i++)
        free(p->n[i].kids);
    free(p->n);
    free((void *)p->t);
}

/* Parse one expression into p (root index in *root). */
static int parse_dsl(const char *dsl, parser *p, int *root, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->err = err;
    p->errlen = errlen;
    size_t len = dsl ? strlen(dsl) : 0;
    if (len > MAX_DSL) {
        snprintf(err, errlen, "expression longer than %d bytes", MAX_DSL);
        return -EINVAL;
    }
    size_t a = 0;
    while (a < len && space_char((unsigned char)dsl[a]))
        a++;
    if (a == len) {
        snprintf(err, errlen, "empty DSL expression");
        return -EINVAL;
    }
    tok *t;
    int rc = tokenize(dsl, len, &t, &p->ntok, err, errlen);
    if (rc < 0)
        return rc;
    p->t = t;
    int r = parse_or(p);
    if (r < 0)
        return -EINVAL;
    if (peek(p)->type != T_EOF) {
        char what[96];
        tok_text(peek(p), what, sizeof what);
        snprintf(err, errlen, "parse: unexpected token %s after expression", what);
        return -EINVAL;
    }
    *root = r;
    return 0;
}

int gs_matrix_parse_check(const char *dsl, char *err, size_t errlen)
{
    parser p;
    int root;
    int rc = parse_dsl(dsl, &p, &root, err, errlen);
    parser_free(&p);
    return rc;
}

/* ---- compile ---- */

static int mnew(gs_matrix *m, int kind, int val)
{
    if (m->nnodes == m->capnodes) {
        m->capnodes = m->capnodes ? m->capnodes * 2 : 32;
        m->nodes = gs_mem_realloc(m->nodes, sizeof *m->nodes * (size_t)m->capnodes);
    }
    m->nodes[m->nnodes] = (mnode){.kind = kind, .val = val};
    return m->nnodes++;
}

typedef struct cctx {
    const gs_matrix_set_def *defs;
    int ndefs;
    gs_matrix_resolve_fn resolve;
    void *ud;
    int *root;     /* per definition: node index */
    int **deps;    /* per definition: definitions it inlines, in first-use order */
    int *ndeps;
    char *err;
    size_t errlen;
    int cycle;     /* the set a circular reference was found at */
} cctx;

static int find_def(const cctx *c, const char *s, int len)
{
    for (int i = 0; i < c->ndefs; i++)
        if ((int)strlen(c->defs[i].name) == len && memcmp(c->defs[i].name, s, (size_t)len) == 0)
            return i;
    return -1;
}

/* Copy a parse tree into the matrix, resolving names. Pre-order, so the first bad name in the
 * text is the one reported. */
static int link_node(gs_matrix *m, cctx *c, int d, const parser *p, int pn)
{
    const pnode *n = &p->n[pn];
    const char *set = c->defs[d].name;
    if (n->kind == N_LEAF || n->kind == N_REF) {
        char name[256];
        if (n->t->len >= (int)sizeof name) {
            snprintf(c->err, c->errlen, "set \"%s\": name \"%.32s...\" longer than %zu bytes", set,
                     n->t->s, sizeof name - 1);
            return -1;
        }
        memcpy(name, n->t->s, (size_t)n->t->len);
        name[n->t->len] = 0;
        if (n->kind == N_LEAF) {
            int model = c->resolve(name, c->ud);
            if (model < 0 || model >= m->nmodels) {
                snprintf(c->err, c->errlen, "set \"%s\": unknown var or model \"%s\"", set, name);
                return -1;
            }
            return mnew(m, N_LEAF, model);
        }
        int r = find_def(c, name, n->t->len);
        if (r < 0) {
            snprintf(c->err, c->errlen, "set \"%s\" references undefined set \"%s\"", set, name);
            return -1;
        }
        bool seen = false;
        for (int i = 0; i < c->ndeps[d]; i++)
            seen |= c->deps[d][i] == r;
        if (!seen) {
            c->deps[d] = gs_mem_realloc(c->deps[d], sizeof(int) * (size_t)(c->ndeps[d] + 1));
            c->deps[d][c->ndeps[d]++] = r;
        }
        return mnew(m, N_REF, r);
    }
    int me = mnew(m, n->kind, 0);
    int *kids = gs_mem_alloc(sizeof *kids * (size_t)n->nkids);
    for (int i = 0; i < n->nkids; i++) {
        int k = link_node(m, c, d, p, n->kids[i]);
        if (k < 0) {
            free(kids);
            return -1;
        }
        kids[i] = k;
    }
    m->nodes[me].kids = kids;
    m->nodes[me].nkids = n->nkids;
    return me;
}

/* Solving order: each definition after the ones it inlines (depth first, in definition order),
 * which is also where a cycle shows. */
static int topo_visit(cctx *c, int d, int *state, int *order, int *norder, int depth)
{
    if (state[d] == 1) {
        c->cycle = d;
        snprintf(c->err, c->errlen, "circular reference detected involving set \"%s\"",
                 c->defs[d].name);
        return -1;
    }
    if (state[d] == 2)
        return 0;
    state[d] = 1;
    for (int i = 0; i < c->ndeps[d]; i++)
        if (topo_visit(c, c->deps[d][i], state, order, norder, depth + 1) < 0)
            return -1;
    state[d] = 2;
    order[(*norder)++] = d;
    return 0;
}

/* Depth of the evaluator's recursion below node n; refs count the inlined set's depth. */
static int node_depth(const gs_matrix *m, int n, const int *def_depth)
{
    const mnode *x = &m->nodes[n];
    if (x->kind == N_LEAF)
        return 1;
    if (x->kind == N_REF)
        return 1 + def_depth[x->val];
    int best = 0;
    for (int i = 0; i < x->nkids; i++) {
        int k = node_depth(m, x->kids[i], def_depth);
        if (k > best)
            best = k;
    }
    return best + 1;
}

static void support_of(const gs_matrix *m, int n, uint64_t *sup, uint64_t *const *def_sup)
{
    const mnode *x = &m->nodes[n];
    if (x->kind == N_LEAF)
        sup[x->val / 64] |= UINT64_C(1) << (x->val % 64);
    else if (x->kind == N_REF)
        for (int w = 0; w < m->mwords; w++)
            sup[w] |= def_sup[x->val][w];
    else
        for (int i = 0; i < x->nkids; i++)
            support_of(m, x->kids[i], sup, def_sup);
}

int gs_matrix_compile(const gs_matrix_set_def *sets, int nsets, int nmodels,
                      gs_matrix_resolve_fn resolve, void *ud, gs_matrix **out, int *bad,
                      char *err, size_t errlen)
{
    *out = NULL;
    *bad = -1;
    if (nsets <= 0) {
        snprintf(err, errlen, "matrix must define at least one set");
        return -EINVAL;
    }
    if (nsets > MAX_SETS) {
        snprintf(err, errlen, "matrix has %d sets; at most %d are allowed", nsets, MAX_SETS);
        return -EINVAL;
    }
    gs_matrix *m = gs_mem_calloc(1, sizeof *m);
    m->nmodels = nmodels > 0 ? nmodels : 0;
    m->mwords = (m->nmodels + 63) / 64;
    cctx c = {.defs = sets, .ndefs = nsets, .resolve = resolve, .ud = ud, .err = err,
              .errlen = errlen};
    c.root = gs_mem_calloc((size_t)nsets, sizeof *c.root);
    c.deps = gs_mem_calloc((size_t)nsets, sizeof *c.deps);
    c.ndeps = gs_mem_calloc((size_t)nsets, sizeof *c.ndeps);
    int *state = gs_mem_calloc((size_t)nsets, sizeof *state);
    int *order = gs_mem_calloc((size_t)nsets, sizeof *order);
    int *depth = gs_mem_calloc((size_t)nsets, sizeof *depth);
    uint64_t **sup = gs_mem_calloc((size_t)nsets, sizeof *sup);
    int norder = 0, rc = -EINVAL;

    for (int d = 0; d < nsets; d++) {
        for (int e = 0; e < d; e++)
            if (strcmp(sets[e].name, sets[d].name) == 0) {
                *bad = d;
                snprintf(err, errlen, "set \"%s\" is defined twice", sets[d].name);
                goto out;
            }
        parser p;
        int root;
        char why[256];
        if (parse_dsl(sets[d].dsl, &p, &root, why, sizeof why) < 0) {
            parser_free(&p);
            *bad = d;
            snprintf(err, errlen, "set \"%s\": %s", sets[d].name, why);
            goto out;
        }
        c.root[d] = link_node(m, &c, d, &p, root);
        parser_free(&p);
        if (c.root[d] < 0) {
            *bad = d;
            goto out;
        }
    }
    for (int d = 0; d < nsets; d++)
        if (!state[d] && topo_visit(&c, d, state, order, &norder, 0) < 0) {
            *bad = c.cycle;
            goto out;
        }
    m->sets = gs_mem_calloc((size_t)nsets, sizeof *m->sets);
    m->nsets = nsets;
    for (int i = 0; i < nsets; i++) {
        int d = order[i];
        depth[d] = node_depth(m, c.root[d], depth);
        if (depth[d] > MAX_DEPTH) {
            *bad = d;
            snprintf(err, errlen, "set \"%s\" nests more than %d levels through other sets",
                     sets[d].name, MAX_DEPTH);
            goto out;
        }
        /* Owned by the set; later sets read it through sup[] while theirs are computed. */
        sup[d] = gs_mem_calloc((size_t)(m->mwords ? m->mwords : 1), sizeof **sup);
        support_of(m, c.root[d], sup[d], sup);
        m->sets[i] = (mset){.name = gs_mem_strdup(sets[d].name),
                            .dsl = gs_mem_strdup(sets[d].dsl ? sets[d].dsl : ""),
                            .root = c.root[d], .support = sup[d]};
    }
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].kind == N_REF)
            m->nodes[i].ref = c.root[m->nodes[i].val];
    *out = m;
    rc = 0;
out:
    for (int d = 0; d < nsets; d++)
        free(c.deps[d]);
    free(c.deps);
    free(c.ndeps);
    free(c.root);
    free(state);
    free(order);
    free(depth);
    if (rc < 0)
        gs_matrix_free(m); /* frees the supports handed to sets so far */
    free(sup);
    return rc;
}

void gs_matrix_free(gs_matrix *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nnodes; i++)
        free(m->nodes[i].kids);
    free(m->nodes);
    for (int i = 0; i < m->nsets; i++) {
        free(m->sets[i].name);
        free(m->sets[i].dsl);
        free(m->sets[i].support);
    }
    free(m->sets);
    free(m);
}

int gs_matrix_nsets(const gs_matrix *m)
{
    return m ? m->nsets : 0;
}

const char *gs_matrix_set_name(const gs_matrix *m, int set)
{
    return m && set >= 0 && set < m->nsets ? m->sets[set].name : NULL;
}

const char *gs_matrix_set_dsl(const gs_matrix *m, int set)
{
    return m && set >= 0 && set < m->nsets ? m->sets[set].dsl : NULL;
}

/* ---- evaluation: the combinations of a node, projected onto the models that matter ---- */

/* Only the models of one question (the target and the running ones) get a bit, so choices
 * that differ in other models collapse into one state, and a state that is a subset of
 * another is dropped (it can only evict more): the lists stay small without expanding the
 * product of every choice. */
typedef struct slist {
    uint64_t *m; /* n masks of `words` words */
    int n, cap;
} slist;

typedef struct ev {
    const gs_matrix *mx;
    const int *bit;  /* per model: its bit, or -1 when it does not matter */
    int words;
    slist *memo;     /* per node */
    bool *done;
} ev;

static bool subset(const uint64_t *a, const uint64_t *b, int words)
{
    for (int w = 0; w < words; w++)
        if (a[w] & ~b[w])
            return false;
    return true;
}

static void frontier_add(slist *l, const uint64_t *cand, int words)
{
    for (int i = 0; i < l->n; i++)
        if (subset(cand, l->m + (size_t)i * words, words))
            return;
    int k = 0;
    for (int i = 0; i < l->n; i++) {
        uint64_t *s = l->m + (size_t)i * words;
        if (subset(s, cand, words))
            continue;
        if (k != i)
            memcpy(l->m + (size_t)k * words, s, sizeof *s * (size_t)words);
        k++;
    }
    l->n = k;
    if (l->n >= MAX_STATES)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->m = gs_mem_realloc(l->m, sizeof *l->m * (size_t)words * (size_t)l->cap);
    }
    memcpy(l->m + (size_t)l->n * words, cand, sizeof *cand * (size_t)words);
    l->n++;
}

static const slist *eval(ev *e, int n)
{
    if (e->done[n])
        return &e->memo[n];
    const mnode *x = &e->mx->nodes[n];
    slist out = {0};
    int words = e->words;
    uint64_t *tmp = gs_mem_calloc((size_t)words, sizeof *tmp);
    if (x->kind == N_LEAF) {
        int b = e->bit[x->val];
        if (b >= 0)
            tmp[b / 64] |= UINT64_C(1) << (b % 64);
        frontier_add(&out, tmp, words);
    } else if (x->kind == N_REF) {
        const slist *r = eval(e, x->ref);
        for (int i = 0; i < r->n; i++)
            frontier_add(&out, r->m + (size_t)i * words, words);
    } else if (x->kind == N_OR) {
        for (int k = 0; k < x->nkids; k++) {
            const slist *r = eval(e, x->kids[k]);
            for (int i = 0; i < r->n; i++)
                frontier_add(&out, r->m + (size_t)i * words, words);
        }
    } else {
        frontier_add(&out, tmp, words); /* the empty combination */
        for (int k = 0; k < x->nkids; k++) {
            const slist *r = eval(e, x->kids[k]);
            slist comb = {0};
            for (int i = 0; i < out.n; i++)
                for (int j = 0; j < r->n; j++) {
                    const uint64_t *a = out.m + (size_t)i * words, *b = r->m + (size_t)j * words;
                    for (int w = 0; w < words; w++)
                        tmp[w] = a[w] | b[w];
                    frontier_add(&comb, tmp, words);
                }
            free(out.m);
            out = comb;
        }
    }
    free(tmp);
    e->memo[n] = out;
    e->done[n] = true;
    return &e->memo[n];
}

static void ev_init(ev *e, const gs_matrix *m, const int *bit, int nbits)
{
    e->mx = m;
    e->bit = bit;
    e->words = nbits > 0 ? (nbits + 63) / 64 : 1;
    e->memo = gs_mem_calloc((size_t)m->nnodes, sizeof *e->memo);
    e->done = gs_mem_calloc((size_t)m->nnodes, sizeof *e->done);
}

static void ev_free(ev *e)
{
    for (int i = 0; i < e->mx->nnodes; i++)
        free(e->memo[i].m);
    free(e->memo);
    free(e->done);
}

static bool has(const uint64_t *mask, int b)
{
    return (mask[b / 64] >> (b % 64)) & 1;
}

int gs_matrix_solve(const gs_matrix *m, int target, const bool *running, const int *costs,
                    bool *evict)
{
    int n = m->nmodels;
    for (int i = 0; i < n; i++)
        evict[i] = false;
    if (target < 0 || target >= n || running[target])
        return -1;
    int *bit = gs_mem_alloc(sizeof *bit * (size_t)(n ? n : 1));
    int nbits = 0;
    for (int i = 0; i < n; i++)
        bit[i] = -1;
    bit[target] = nbits++;
    for (int i = 0; i < n; i++)
        if (running[i] && i != target)
            bit[i] = nbits++;
    ev e;
    ev_init(&e, m, bit, nbits);
    long best_cost = -1;
    int best_set = -1;
    uint64_t *best = gs_mem_calloc((size_t)e.words, sizeof *best);
    int tb = bit[target];
    for (int s = 0; s < m->nsets; s++) {
        if (!has(m->sets[s].support, target))
            continue;
        const slist *l = eval(&e, m->sets[s].root);
        for (int i = 0; i < l->n; i++) {
            const uint64_t *st = l->m + (size_t)i * e.words;
            if (!has(st, tb))
                continue;
            long cost = 0;
            for (int r = 0; r < n; r++)
                if (bit[r] >= 0 && r != target && !has(st, bit[r]))
                    cost += costs && costs[r] > 1 ? costs[r] : 1;
            if (best_cost < 0 || cost < best_cost) {
                best_cost = cost;
                best_set = s;
                memcpy(best, st, sizeof *best * (size_t)e.words);
            }
        }
    }
    for (int r = 0; r < n; r++)
        if (bit[r] >= 0 && r != target)
            evict[r] = best_set < 0 || !has(best, bit[r]);
    free(best);
    ev_free(&e);
    free(bit);
    return best_set;
}

bool gs_matrix_together(const gs_matrix *m, const int *models, int n)
{
    if (n <= 0)
        return true;
    int nm = m->nmodels;
    int *bit = gs_mem_alloc(sizeof *bit * (size_t)(nm ? nm : 1));
    for (int i = 0; i < nm; i++)
        bit[i] = -1;
    int nbits = 0;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        if (models[i] < 0 || models[i] >= nm) {
            ok = false;
            break;
        }
        if (bit[models[i]] < 0)
            bit[models[i]] = nbits++;
    }
    if (!ok) {
        free(bit);
        return false;
    }
    ev e;
    ev_init(&e, m, bit, nbits);
    bool found = false;
    for (int s = 0; s < m->nsets && !found; s++) {
        bool all = true;
        for (int i = 0; i < n && all; i++)
            all = has(m->sets[s].support, models[i]);
        if (!all)
            continue;
        const slist *l = eval(&e, m->sets[s].root);
        for (int i = 0; i < l->n && !found; i++) {
            int cnt = 0;
            for (int w = 0; w < e.words; w++)
                cnt += __builtin_popcountll(l->m[(size_t)i * e.words + w]);
            found = cnt == nbits;
        }
    }
    ev_free(&e);
    free(bit);
    return found;
}
