#include "jscan.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

typedef struct cur {
    const unsigned char *s;
    size_t n, i;
    int depth;
    const char *err;
    size_t err_at;
} cur;

static int fail(cur *c, const char *what)
{
    if (!c->err) {
        c->err = what;
        c->err_at = c->i;
    }
    return -EINVAL;
}

static void ws(cur *c)
{
    while (c->i < c->n) {
        unsigned char ch = c->s[c->i];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
            return;
        c->i++;
    }
}

static int hex4(cur *c, unsigned *out)
{
    if (c->n - c->i < 4)
        return fail(c, "invalid escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char h = c->s[c->i++];
        int d = h >= '0' && h <= '9' ? h - '0'
              : h >= 'a' && h <= 'f' ? h - 'a' + 10
              : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                     : -1;
        if (d < 0)
            return fail(c, "invalid escape");
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

/* One UTF-8 sequence starting at c->i (a lead byte >= 0x80): no overlong forms, no encoded
 * surrogates, nothing past U+10FFFF. */
static int utf8(cur *c)
{
    unsigned char b = c->s[c->i];
    int k;
    uint32_t cp, min;
    if (b >= 0xC2 && b <= 0xDF)
        k = 1, cp = b & 0x1F, min = 0x80;
    else if (b >= 0xE0 && b <= 0xEF)
        k = 2, cp = b & 0x0F, min = 0x800;
    else if (b >= 0xF0 && b <= 0xF4)
        k = 3, cp = b & 0x07, min = 0x10000;
    else
        return fail(c, "invalid UTF-8");
    if (c->n - c->i <= (size_t)k)
        return fail(c, "invalid UTF-8");
    for (int j = 1; j <= k; j++) {
        unsigned char t = c->s[c->i + (size_t)j];
        if ((t & 0xC0) != 0x80)
            return fail(c, "invalid UTF-8");
        cp = cp << 6 | (t & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return fail(c, "invalid UTF-8");
    c->i += (size_t)k + 1;
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Bytes that stand for themselves in a JSON string: printable ASCII but the quote and the
 * backslash. */
#define P16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char plain[256] = {
    [0x20] = 1, 1, 0 /* '"' */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f */
    P16, P16, /* 0x30-0x4f */
    [0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* '\\' */, 1, 1, 1, /* 0x50-0x5f */
    P16, P16, /* 0x60-0x7f */
};
#undef P16

/* A string at c->i (the opening quote). With out (room for the raw length + 1), its decoded
 * bytes go there, NUL-terminated, and *olen gets their count. */
static int str(cur *c, char *out, size_t *olen)
{
    size_t o = 0;
    c->i++;
    for (;;) {
        /* Runs of plain ASCII in one tight loop (every request's body passes here). */
        size_t run = c->i, i = run, n = c->n;
        const unsigned char *s = c->s;
        while (i < n && plain[s[i]])
            i++;
        if (i > run) {
            if (out)
                memcpy(out + o, s + run, i - run);
            o += i - run;
            c->i = i;
        }
        if (c->i >= c->n)
            return fail(c, "premature end of input in a string");
        unsigned char ch = c->s[c->i];
        if (ch == '"') {
            c->i++;
            break;
        }
        if (ch < 0x20)
            return fail(c, "control character in a string");
        if (ch >= 0x80) {
            size_t from = c->i;
            if (utf8(c))
                return -EINVAL;
            if (out)
                memcpy(out + o, c->s + from, c->i - from);
            o += c->i - from;
            continue;
        }
        c->i++;
        if (ch != '\\') {
            if (out)
                out[o] = (char)ch;
            o++;
            continue;
        }
        if (c->i >= c->n)
            return fail(c, "premature end of input in a string");
        unsigned char e = c->s[c->i++];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char dec[] = "\"\\/\b\f\n\r\t";
            if (out)
                out[o] = dec[simple - "\"\\/bfnrt"];
            o++;
            continue;
        }
        if (e != 'u')
            return fail(c, "invalid escape");
        unsigned cp;
        if (hex4(c, &cp))
            return -EINVAL;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail(c, "invalid Unicode escape (lone low surrogate)");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if (c->n - c->i < 2 || c->s[c->i] != '\\' || c->s[c->i + 1] != 'u')
                return fail(c, "invalid Unicode escape (lone high surrogate)");
            c->i += 2;
            if (hex4(c, &lo))
                return -EINVAL;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return fail(c, "invalid Unicode escape (bad surrogate pair)");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0)
            return fail(c, "\\u0000 is not allowed in a string");
        /* A \u escape is 6 raw bytes (12 for a pair): its UTF-8 form always fits in place. */
        if (out)
            o += put_utf8(out + o, cp);
        else
            o += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
    if (out)
        out[o] = 0;
    if (olen)
        *olen = o;
    return 0;
}

static int digits(cur *c)
{
    size_t from = c->i;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9')
        c->i++;
    return c->i > from ? 0 : fail(c, "invalid number");
}

/* Numbers are checked by the grammar only (jansson also refuses ones out of its range; such a
 * body is still JSON, and the model answers for it). */
static int number(cur *c)
{
    if (c->s[c->i] == '-')
        c->i++;
    if (c->i < c->n && c->s[c->i] == '0')
        c->i++;
    else if (digits(c))
        return -EINVAL;
    if (c->i < c->n && c->s[c->i] == '.') {
        c->i++;
        if (digits(c))
            return -EINVAL;
    }
    if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
        c->i++;
        if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-'))
            c->i++;
        if (digits(c))
            return -EINVAL;
    }
    return 0;
}

static int literal(cur *c, const char *word)
{
    size_t l = strlen(word);
    if (c->n - c->i < l || memcmp(c->s + c->i, word, l) != 0)
        return fail(c, "invalid token");
    c->i += l;
    return 0;
}

static int value(cur *c);

/* An object or array at c->i. At the top level (model != NULL) the spans of "model" values are
 * noted: the last one counts. */
static int container(cur *c, size_t *model_at)
{
    unsigned char close = c->s[c->i] == '{' ? '}' : ']';
    if (++c->depth > GS_JSCAN_MAX_DEPTH)
        return fail(c, "maximum nesting depth exceeded");
    c->i++;
    ws(c);
    if (c->i < c->n && c->s[c->i] == close) {
        c->i++;
        c->depth--;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            if (c->i >= c->n || c->s[c->i] != '"')
                return fail(c, "string or '}' expected");
            size_t kfrom = c->i;
            if (str(c, NULL, NULL))
                return -EINVAL;
            /* Decode only short keys: "model" may be spelt with escapes, but not at length. */
            bool is_model = false;
            if (model_at && c->i - kfrom <= 40) {
                char kb[48];
                size_t kl = 0;
                cur kc = {c->s, c->n, kfrom, 0, NULL, 0};
                str(&kc, kb, &kl);
                is_model = kl == 5 && memcmp(kb, "model", 5) == 0;
            }
            ws(c);
            if (c->i >= c->n || c->s[c->i] != ':')
                return fail(c, "':' expected");
            c->i++;
            ws(c);
            if (is_model)
                *model_at = c->i;
        }
        if (value(c))
            return -EINVAL;
        ws(c);
        if (c->i < c->n && c->s[c->i] == ',') {
            c->i++;
            ws(c);
            continue;
        }
        if (c->i < c->n && c->s[c->i] == close) {
            c->i++;
            c->depth--;
            return 0;
        }
        return fail(c, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
    }
}

static int value(cur *c)
{
    if (c->i >= c->n)
        return fail(c, "premature end of input");
    switch (c->s[c->i]) {
    case '{':
    case '[':
        return container(c, NULL);
    case '"':
        return str(c, NULL, NULL);
    case 't':
        return literal(c, "true");
    case 'f':
        return literal(c, "false");
    case 'n':
        return literal(c, "null");
    default:
        if (c->s[c->i] == '-' || (c->s[c->i] >= '0' && c->s[c->i] <= '9'))
            return number(c);
        return fail(c, "invalid token");
    }
}

static void where(const cur *c, gs_jscan_result *r)
{
    int line = 1, col = 0;
    for (size_t k = 0; k < c->err_at && k < c->n; k++) {
        if (c->s[k] == '\n') {
            line++;
            col = 0;
        } else {
            col++;
        }
    }
    r->line = line;
    r->column = col + 1;
}

int gs_jscan_model(const char *body, size_t len, gs_jscan_result *r)
{
    memset(r, 0, sizeof *r);
    cur c = {(const unsigned char *)body, body ? len : 0, 0, 0, NULL, 0};
    size_t model_at = SIZE_MAX;
    int rc = -EINVAL;
    ws(&c);
    if (c.i >= c.n || (c.s[c.i] != '{' && c.s[c.i] != '[')) {
        fail(&c, c.i >= c.n ? "empty body" : "'[' or '{' expected");
        goto out;
    }
    if (container(&c, &model_at))
        goto out;
    ws(&c);
    if (c.i != c.n) {
        fail(&c, "end of input expected after the top-level value");
        goto out;
    }
    rc = 0;
    if (model_at == SIZE_MAX)
        goto out;
    if (c.s[model_at] != '"') {
        r->model_not_str = true;
        goto out;
    }
    /* The second walk cannot fail: the first one checked this very span. */
    cur m = {c.s, c.n, model_at, 0, NULL, 0};
    size_t end = model_at;
    {
        cur probe = m;
        str(&probe, NULL, NULL);
        end = probe.i;
    }
    r->model = gs_mem_alloc(end - model_at + 1);
    str(&m, r->model, NULL);
out:
    if (rc) {
        r->error = c.err;
        where(&c, r);
    }
    return rc;
}
