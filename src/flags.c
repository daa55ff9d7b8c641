#include "flags.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

int gs_flags_parse_bool(const char *s, bool *v)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < GS_ARRAY_LEN(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *v = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *v = false;
            return 0;
        }
    }
    return -EINVAL;
}

int gs_flags_find(const gs_flag_spec *spec, int nspec, const char *name, size_t len)
{
    for (int i = 0; i < nspec; i++) {
        const char *n[2] = {spec[i].name, spec[i].alias};
        for (int k = 0; k < 2; k++)
            if (n[k] && strlen(n[k]) == len && strncmp(n[k], name, len) == 0)
                return i;
    }
    return -1;
}

/* Printable and bounded, for error messages about whatever was typed. */
static void shown(char *dst, size_t cap, const char *s, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 4 < cap; i++)
        dst[k++] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f ? '?' : s[i];
    if (len > 0 && k + 4 >= cap && k < len) {
        dst[k++] = '.';
        dst[k++] = '.';
        dst[k++] = '.';
    }
    dst[k] = 0;
}

static void add_val(gs_flags *out, int flag, const char *value)
{
    out->vals = gs_mem_realloc(out->vals, sizeof *out->vals * (size_t)(out->nvals + 1));
    out->vals[out->nvals].flag = flag;
    out->vals[out->nvals].value = value;
    out->nvals++;
}

int gs_flags_parse(const gs_flag_spec *spec, int nspec, int argc, char **argv, gs_flags *out,
                   char *err, size_t errlen)
{
    char name[128];
    int rc = 0;
    memset(out, 0, sizeof *out);
    out->args = gs_mem_calloc((size_t)(argc > 0 ? argc : 0) + 1, sizeof *out->args);
    if (errlen)
        err[0] = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (++i < argc)
                out->args[out->nargs++] = argv[i];
            break;
        }
        if (a[0] != '-' || a[1] == 0) {
            out->args[out->nargs++] = a;
            continue;
        }
        const char *n = a + 1 + (a[1] == '-');
        if (*n == 0 || *n == '-' || *n == '=') {
            shown(name, sizeof name, a, strlen(a));
            snprintf(err, errlen, "bad flag syntax: %s", name);
            rc = -EINVAL;
            goto out;
        }
        const char *eq = strchr(n, '=');
        size_t nlen = eq ? (size_t)(eq - n) : strlen(n);
        shown(name, sizeof name, n, nlen);
        int f = gs_flags_find(spec, nspec, n, nlen);
        if (f < 0) {
            snprintf(err, errlen, "unknown flag -%s", name);
            rc = -EINVAL;
            goto out;
        }
        if (spec[f].kind == GS_FLAG_BOOL) {
            bool v = true;
            if (eq && gs_flags_parse_bool(eq + 1, &v) < 0) {
                char val[64];
                shown(val, sizeof val, eq + 1, strlen(eq + 1));
                snprintf(err, errlen, "flag -%s is a switch: '%s' is not true or false", name,
                         val);
                rc = -EINVAL;
                goto out;
            }
            add_val(out, f, v ? "true" : "false");
            continue;
        }
        if (eq) {
            add_val(out, f, eq + 1);
        } else if (i + 1 < argc) {
            add_val(out, f, argv[++i]);
        } else {
            snprintf(err, errlen, "flag -%s needs a value", name);
            rc = -EINVAL;
            goto out;
        }
    }
out:
    return rc;
}

void gs_flags_free(gs_flags *f)
{
    free(f->vals);
    free(f->args);
    memset(f, 0, sizeof *f);
}

const char *gs_flags_get(const gs_flags *f, int flag)
{
    for (int i = f->nvals - 1; i >= 0; i--)
        if (f->vals[i].flag == flag)
            return f->vals[i].value;
    return NULL;
}

bool gs_flags_on(const gs_flags *f, int flag)
{
    const char *v = gs_flags_get(f, flag);
    return v && strcmp(v, "true") == 0;
}

char **gs_flags_normalize(const gs_flag_spec *spec, int nspec, int argc, char **argv)
{
    char **out = gs_mem_calloc((size_t)(argc > 0 ? argc : 0) + 1, sizeof *out);
    bool flags_end = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            flags_end = true;
        bool single = !flags_end && a[0] == '-' && a[1] != '-' && a[1] != 0;
        if (single) {
            const char *n = a + 1;
            size_t nlen = strcspn(n, "=");
            int f = gs_flags_find(spec, nspec, n, nlen);
            /* Only long names: `-u URL` stays a short option for a getopt parser. */
            if (f >= 0 && nlen > 1) {
                out[i] = gs_mem_printf("-%s", a);
                continue;
            }
        }
        out[i] = gs_mem_strdup(a);
    }
    return out;
}

void gs_flags_usage(const gs_flag_spec *spec, int nspec, FILE *f)
{
    for (int i = 0; i < nspec; i++) {
        const char *h = spec[i].help ? spec[i].help : "";
        const char *sp = strchr(h, ' ');
        bool has_arg = spec[i].kind == GS_FLAG_VALUE && sp;
        char left[80];
        snprintf(left, sizeof left, "-%s%s%.*s%s", spec[i].name, has_arg ? " " : "",
                 has_arg ? (int)(sp - h) : 0, h, spec[i].repeat ? " ..." : "");
        fprintf(f, "  %-28s %s\n", left, has_arg ? sp + 1 : h);
    }
}
