#include "cmdline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"
#include "strv.h"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

char *gs_cmdline_clean(const char *text)
{
    gs_buf out;
    gs_buf_init(&out, 0);
    gs_buf_append(&out, "", 0);
    /* Set when the previous kept line ended in a backslash: the next kept line continues it. */
    bool joining = false;
    bool first = true;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *next = nl ? nl + 1 : p + len;
        size_t s = 0;
        while (s < len && (p[s] == ' ' || p[s] == '\t'))
            s++;
        /* Comment lines go before joining, so a comment inside a continued command does not
         * swallow the lines after it. */
        if (s < len && p[s] == '#') {
            p = next;
            continue;
        }
        size_t e = len;
        while (e > 0 && is_blank(p[e - 1]))
            e--;
        bool cont = e > 0 && p[e - 1] == '\\';
        if (cont)
            e--;
        if (!first)
            gs_buf_append(&out, joining ? " " : "\n", 1);
        first = false;
        gs_buf_append(&out, p, e);
        joining = cont;
        p = next;
    }
    return gs_buf_steal(&out);
}

int gs_cmdline_split(const char *text, char ***argv, int *argc, const char **err)
{
    int n = 0;
    char **av = gs_strv_dup(NULL, 0); /* an empty command is an empty vector, never NULL */
    gs_buf w;
    gs_buf_init(&w, 0);
    bool in_word = false;
    const char *why = NULL;
    const char *p = text;
    int rc = 0;

    for (;;) {
        char c = *p;
        if (c == 0 || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (in_word) {
                gs_buf_append(&w, "", 0);
                gs_strv_push(&av, &n, gs_buf_steal(&w));
                in_word = false;
            }
            if (c == 0)
                break;
            p++;
            continue;
        }
        /* As in sh, '#' starts a comment only at the start of a word. */
        if (c == '#' && !in_word) {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (c == '\\') {
            if (p[1] == 0) {
                why = "trailing backslash";
                goto fail;
            }
            /* backslash-newline vanishes and starts no word by itself */
            if (p[1] != '\n') {
                gs_buf_append(&w, p + 1, 1);
                in_word = true;
            }
            p += 2;
            continue;
        }
        in_word = true;
        if (c == '\'') {
            const char *q = strchr(p + 1, '\'');
            if (!q) {
                why = "unterminated single quote";
                goto fail;
            }
            gs_buf_append(&w, p + 1, (size_t)(q - p - 1));
            p = q + 1;
            continue;
        }
        if (c == '"') {
            p++;
            for (;;) {
                if (*p == 0) {
                    why = "unterminated double quote";
                    goto fail;
                }
                if (*p == '"') {
                    p++;
                    break;
                }
                if (*p == '\\' && p[1] && strchr("\\\"$`\n", p[1])) {
                    if (p[1] != '\n')
                        gs_buf_append(&w, p + 1, 1);
                    p += 2;
                    continue;
                }
                gs_buf_append(&w, p, 1);
                p++;
            }
            continue;
        }
        gs_buf_append(&w, p, 1);
        p++;
    }
    *argv = av;
    *argc = n;
    if (err)
        *err = NULL;
    gs_buf_free(&w);
    return 0;

fail:
    gs_strv_free(av);
    gs_buf_free(&w);
    *argv = NULL;
    *argc = 0;
    if (err)
        *err = why;
    rc = -EINVAL;
    return rc;
}

char *gs_cmdline_quote(const char *word)
{
    bool plain = *word != 0;
    for (const char *p = word; *p && plain; p++) {
        char c = *p;
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                strchr("_-./:=@%+,", c);
    }
    if (plain)
        return gs_mem_strdup(word);
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_buf_append(&b, "\"", 1);
    for (const char *p = word; *p; p++) {
        if (strchr("\\\"$`", *p))
            gs_buf_append(&b, "\\", 1);
        gs_buf_append(&b, p, 1);
    }
    gs_buf_append(&b, "\"", 1);
    return gs_buf_steal(&b);
}
