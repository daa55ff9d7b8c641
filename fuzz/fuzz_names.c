/* fuzz_names: the model-name rule. Input: file names, one per line. Checks the promises of
 * names.h: a name is never NULL or empty, uses only [a-z0-9._:-] (plus the "-N" of collisions),
 * never starts with '-'; split parts are 1-based and within their total; resolve gives unique
 * names that avoid the reserved ones, whatever the input order; aliases point at candidates. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

#define MAX_FILES 12

static void check_name(const char *n)
{
    if (!n || !*n || n[0] == '-')
        abort();
    for (const char *p = n; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '-'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > 4096)
        return 0;
    char *text = malloc(len + 1);
    memcpy(text, data, len);
    text[len] = 0;

    char *files[MAX_FILES];
    size_t nf = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && nf < MAX_FILES;
         line = strtok_r(NULL, "\n", &save)) {
        bool dup = false;
        for (size_t i = 0; i < nf; i++)
            dup |= strcmp(files[i], line) == 0;
        if (!dup)
            files[nf++] = line;
    }

    char *base[MAX_FILES], *quant[MAX_FILES];
    gs_alias_cand cand[MAX_FILES];
    for (size_t i = 0; i < nf; i++) {
        const char *f = files[i];
        base[i] = gs_names_from_file(f);
        check_name(base[i]);
        quant[i] = gs_names_quant_from_file(f);
        if (quant[i] && !*quant[i])
            abort();
        int part = 0, total = 0;
        if (gs_names_split_part(f, &part, &total) && (part < 1 || total < 1 || part > total))
            abort();
        uint64_t params = gs_names_params_from_name(f);
        uint64_t lp = gs_names_params_from_label(f);
        char *l1 = gs_names_params_label(params), *l2 = gs_names_params_label(lp);
        free(l1);
        free(l2);
        gs_kind k = gs_names_kind(f, (int)(params % 6) - 1, f, i & 1);
        if (!gs_kind_name(k))
            abort();
        cand[i] = (gs_alias_cand){.name = base[i], .kind = k, .params = params,
                                  .instruct = gs_names_says_instruct(f)};
        gs_names_embedding_arch(f);
    }

    /* Resolve in input order and in reverse: the same path must get the same name. */
    const char *reserved[] = {"gpt-4", nf ? base[0] : "model"};
    size_t nres = nf > 1 ? 2 : 1;
    gs_names_entry e1[MAX_FILES], e2[MAX_FILES];
    for (size_t i = 0; i < nf; i++) {
        e1[i] = (gs_names_entry){.path = files[i], .base = base[i], .quant = quant[i]};
        e2[nf - 1 - i] = e1[i];
    }
    gs_names_resolve(e1, nf, reserved, nres);
    gs_names_resolve(e2, nf, reserved, nres);
    for (size_t i = 0; i < nf; i++) {
        check_name(e1[i].name);
        if (strcmp(e1[i].name, e2[nf - 1 - i].name) != 0)
            abort(); /* depends on input order */
        for (size_t r = 0; r < nres; r++)
            if (strcmp(e1[i].name, reserved[r]) == 0)
                abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(e1[i].name, e1[j].name) == 0)
                abort(); /* not unique */
    }

    int out[GS_ALIAS_COUNT];
    gs_names_choose_aliases(cand, nf, reserved, nres, out);
    for (int a = 0; a < GS_ALIAS_COUNT; a++) {
        if (out[a] < -1 || out[a] >= (int)nf)
            abort();
        if (a == GS_ALIAS_GPT4 && out[a] >= 0)
            abort(); /* "gpt-4" is reserved */
    }

    for (size_t i = 0; i < nf; i++) {
        free(e1[i].name);
        free(e2[i].name);
        free(base[i]);
        free(quant[i]);
    }
    free(text);
    return 0;
}
