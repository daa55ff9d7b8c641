#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* Real file names as they appear on Hugging Face, with the name SPEC §3's rule gives. */
static const struct { const char *file, *name, *quant; } names[] = {
    /* the seed's two examples, which must hold exactly */
    {"llama-3.2-1b-instruct-q4_k_m.gguf", "llama3.2:1b-instruct", "q4_k_m"},
    {"tinyllama-1.1b-chat-v1.0.Q4_K_S.gguf", "tinyllama1.1:b-chat", "Q4_K_S"},
    /* SPEC's own examples */
    {"Mistral-7B-Instruct-v0.3.Q4_K_M.gguf", "mistral:7b-instruct", "Q4_K_M"},
    {"Mistral-7B-Instruct-v0.3.Q4_K_M", "mistral:7b-instruct", "Q4_K_M"},
    {"gemma-3-4b-it", "gemma3:4b-it", NULL},
    {"Qwen2.5-7B-Instruct", "qwen2.5:7b-instruct", NULL},
    {"Llama-3.2-1B-Instruct-Q4_K_M.gguf", "llama3.2:1b-instruct", "Q4_K_M"},
    {"Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "meta-llama3.1:8b-instruct", "Q4_K_M"},
    {"Phi-3-mini-4k-instruct-q4.gguf", "phi3:mini-4k-instruct", "q4"},
    {"Phi-3-mini-4k-instruct-fp16.gguf", "phi3:mini-4k-instruct", "fp16"},
    {"phi-2.Q4_K_M.gguf", "phi2", "Q4_K_M"},
    {"nomic-embed-text-v1.5.Q8_0.gguf", "nomic-embed-text", "Q8_0"},
    {"bge-reranker-v2-m3-Q8_0.gguf", "bge-reranker-v2:m3", "Q8_0"},
    {"mmproj-model-f16.gguf", "mmproj-model", "f16"},
    {"qwen2.5-coder-1.5b-instruct-q8_0.gguf", "qwen2.5:coder-1.5b-instruct", "q8_0"},
    {"DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf", "deepseek-r1:distill-qwen-7b", "Q4_K_M"},
    {"SmolLM2-360M-Instruct-Q8_0.gguf", "smollm2:360m-instruct", "Q8_0"},
    {"SmolVLM-256M-Instruct-Q8_0.gguf", "smolvlm:256m-instruct", "Q8_0"},
    {"gpt-oss-20b-mxfp4.gguf", "gpt-oss:20b", "mxfp4"},
    /* 8x7B: the first number is 8, followed by x, so by the rule it is a version */
    {"Mixtral-8x7B-Instruct-v0.1.Q4_K_M.gguf", "mixtral8:x7b-instruct", "Q4_K_M"},
    {"Llama-3.3-70B-Instruct-Q4_K_M-00001-of-00002.gguf", "llama3.3:70b-instruct", "Q4_K_M"},
    {"Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "qwen3:30b-a3b", "UD-Q4_K_XL"},
    {"Qwen3-0.6B-Q8_0.gguf", "qwen3:0.6b", "Q8_0"},
    {"Qwen3-4B-Q4_K_M.gguf", "qwen3:4b", "Q4_K_M"},
    {"gemma-3-1b-it.Q4_K_M.gguf", "gemma3:1b-it", "Q4_K_M"},
    {"gemma-2-2b-it-Q4_0_4_4.gguf", "gemma2:2b-it", "Q4_0_4_4"},
    {"mxbai-embed-large-v1-f16.gguf", "mxbai-embed-large", "f16"},
    {"moondream2-text-model-f16.gguf", "moondream2:text-model", "f16"},
    {"Devstral-Small-2505-Q4_K_M.gguf", "devstral-small2505", "Q4_K_M"},
    {"all-MiniLM-L6-v2-Q8_0.gguf", "all-minilm-l6", "Q8_0"},
    {"Phi-3.5-mini-instruct-Q4_K_M.gguf", "phi3.5:mini-instruct", "Q4_K_M"},
    {"granite-3.1-8b-instruct-Q4_K_M.gguf", "granite3.1:8b-instruct", "Q4_K_M"},
    {"codellama-7b-instruct.Q4_K_M.gguf", "codellama:7b-instruct", "Q4_K_M"},
    {"Qwen2-VL-2B-Instruct-Q4_K_M.gguf", "qwen2:vl-2b-instruct", "Q4_K_M"},
    {"llava-v1.6-mistral-7b.Q4_K_M.gguf", "llava-v1.6:mistral-7b", "Q4_K_M"},
    {"Qwen3-Embedding-0.6B-Q8_0.gguf", "qwen3:embedding-0.6b", "Q8_0"},
    {"jina-embeddings-v2-base-en-f32.gguf", "jina-embeddings-v2:base-en", "f32"},
    {"e5-mistral-7b-instruct-Q4_K_M.gguf", "e5:mistral-7b-instruct", "Q4_K_M"},
    {"Meta-Llama-3.1-8B-Instruct.i1-IQ4_XS.gguf", "meta-llama3.1:8b-instruct", "i1-IQ4_XS"},
    {"Qwen3-8B-BF16.gguf", "qwen3:8b", "BF16"},
    {"Llama3-8B-1.58-100B-tokens-TQ1_0.gguf", "llama3:8b-1.58-100b-tokens", "TQ1_0"},
    {"Qwen2.5-Coder-7B-Instruct-IQ2_XXS.gguf", "qwen2.5:coder-7b-instruct", "IQ2_XXS"},
    {"ggml-model-q4_0.gguf", "ggml-model", "q4_0"},
    {"model.gguf", "model", NULL},
    {"My Model (copy).GGUF", "my-model-copy", NULL},
    {"/models/sub dir/Qwen2.5-7B-Instruct-Q4_K_M.gguf", "qwen2.5:7b-instruct", "Q4_K_M"},
    {".gguf", "model", NULL},
};

#define NNAMES (sizeof names / sizeof names[0])

Test(names, table_of_real_file_names)
{
    cr_assert_geq(NNAMES, 30);
    for (size_t i = 0; i < NNAMES; i++) {
        char *n = gs_names_from_file(names[i].file);
        cr_expect_str_eq(n, names[i].name, "%s", names[i].file);
        free(n);
        char *q = gs_names_quant_from_file(names[i].file);
        if (names[i].quant)
            cr_expect(q && !strcmp(q, names[i].quant), "%s: quant %s", names[i].file, q ? q : "(null)");
        else
            cr_expect_null(q, "%s: quant %s", names[i].file, q ? q : "");
        free(q);
    }
}

Test(names, split_parts)
{
    int p = 0, t = 0;
    cr_assert(gs_names_split_part("Llama-3.3-70B-Instruct-Q4_K_M-00001-of-00002.gguf", &p, &t));
    cr_expect_eq(p, 1);
    cr_expect_eq(t, 2);
    cr_assert(gs_names_split_part("/x/big-model-00003-of-00005.GGUF", &p, &t));
    cr_expect_eq(p, 3);
    cr_expect_eq(t, 5);
    cr_expect_not(gs_names_split_part("llama-3.2-1b-instruct-q4_k_m.gguf", &p, &t));
    cr_expect_not(gs_names_split_part("model-00006-of-00005.gguf", &p, &t));
    /* every part of one model gives the same name */
    char *a = gs_names_from_file("Qwen3-235B-A22B-Q4_K_M-00001-of-00003.gguf");
    char *b = gs_names_from_file("Qwen3-235B-A22B-Q4_K_M-00003-of-00003.gguf");
    cr_expect_str_eq(a, "qwen3:235b-a22b");
    cr_expect_str_eq(a, b);
    free(a);
    free(b);
}

Test(names, params_from_name)
{
    cr_expect_eq(gs_names_params_from_name("Mistral-7B-Instruct-v0.3.Q4_K_M.gguf"), 7000000000ULL);
    cr_expect_eq(gs_names_params_from_name("Mixtral-8x7B-Instruct-v0.1.Q4_K_M.gguf"), 56000000000ULL);
    cr_expect_eq(gs_names_params_from_name("SmolLM2-360M-Instruct-Q8_0.gguf"), 360000000ULL);
    cr_expect_eq(gs_names_params_from_name("qwen2.5-coder-1.5b-instruct-q8_0.gguf"), 1500000000ULL);
    cr_expect_eq(gs_names_params_from_name("tinyllama-1.1b-chat-v1.0.Q4_K_S.gguf"), 1100000000ULL);
    cr_expect_eq(gs_names_params_from_name("Qwen3-30B-A3B-UD-Q4_K_XL.gguf"), 30000000000ULL);
    cr_expect_eq(gs_names_params_from_name("Qwen2.5-7B-Instruct"), 7000000000ULL);
    cr_expect_eq(gs_names_params_from_name("gpt-oss-20b-mxfp4.gguf"), 20000000000ULL);
    /* "4k" is a context size, "3" a version: no size in the name */
    cr_expect_eq(gs_names_params_from_name("Phi-3-mini-4k-instruct-q4.gguf"), 0);
    cr_expect_eq(gs_names_params_from_name("nomic-embed-text-v1.5.Q8_0.gguf"), 0);
    cr_expect_eq(gs_names_params_from_name("model-7bit.gguf"), 0);
}

Test(names, params_from_label)
{
    cr_expect_eq(gs_names_params_from_label("1B"), 1000000000ULL);
    cr_expect_eq(gs_names_params_from_label("8x7B"), 56000000000ULL);
    cr_expect_eq(gs_names_params_from_label("360M"), 360000000ULL);
    cr_expect_eq(gs_names_params_from_label("7.6B"), 7600000000ULL);
    cr_expect_eq(gs_names_params_from_label("1.2T"), 1200000000000ULL);
    cr_expect_eq(gs_names_params_from_label("30B-A3B"), 30000000000ULL);
    cr_expect_eq(gs_names_params_from_label("4x1.5B"), 6000000000ULL);
    cr_expect_eq(gs_names_params_from_label("22K"), 22000ULL);
    cr_expect_eq(gs_names_params_from_label("large"), 0);
    cr_expect_eq(gs_names_params_from_label(""), 0);
    cr_expect_eq(gs_names_params_from_label(NULL), 0);
    cr_expect_eq(gs_names_params_from_label("1e9B"), 0);
}

Test(names, params_label)
{
    static const struct { uint64_t n; const char *s; } t[] = {
        {1000000000ULL, "1B"}, {7000000000ULL, "7B"}, {1100000000ULL, "1.1B"},
        {360000000ULL, "360M"}, {56000000000ULL, "56B"}, {7241732096ULL, "7.2B"},
        {494032768ULL, "494M"}, {1200000000000ULL, "1.2T"}, {123ULL, "123"}, {0, ""}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char *s = gs_names_params_label(t[i].n);
        cr_expect_str_eq(s, t[i].s);
        free(s);
    }
}

Test(names, kinds)
{
    cr_expect_eq(gs_names_kind("llama", -1, "llama-3.2-1b-instruct-q4_k_m.gguf", false), GS_KIND_CHAT);
    cr_expect_eq(gs_names_kind("gemma3", -1, "gemma-3-4b-it-Q4_K_M.gguf", true), GS_KIND_VISION);
    cr_expect_eq(gs_names_kind("nomic-bert", -1, "x.gguf", false), GS_KIND_EMBEDDING);
    cr_expect_eq(gs_names_kind("bert", 1, "all-MiniLM-L6-v2-Q8_0.gguf", false), GS_KIND_EMBEDDING);
    cr_expect_eq(gs_names_kind("qwen3", 3, "Qwen3-Embedding-0.6B-Q8_0.gguf", false), GS_KIND_EMBEDDING);
    cr_expect_eq(gs_names_kind("qwen3", -1, "Qwen3-Embedding-0.6B-Q8_0.gguf", false), GS_KIND_EMBEDDING);
    cr_expect_eq(gs_names_kind("llama", -1, "e5-mistral-7b-instruct-embed.gguf", false), GS_KIND_EMBEDDING);
    cr_expect_eq(gs_names_kind("bert", 4, "model.gguf", false), GS_KIND_RERANKER);
    cr_expect_eq(gs_names_kind("qwen3", -1, "Qwen3-Reranker-0.6B-q8_0.gguf", false), GS_KIND_RERANKER);
    /* pooling "none" is a generative model */
    cr_expect_eq(gs_names_kind("llama", 0, "model.gguf", false), GS_KIND_CHAT);
    cr_expect_str_eq(gs_kind_name(GS_KIND_EMBEDDING), "embedding");
    cr_expect_str_eq(gs_kind_name(GS_KIND_RERANKER), "reranker");
    cr_expect_str_eq(gs_kind_name(GS_KIND_VISION), "vision");
    cr_expect_str_eq(gs_kind_name(GS_KIND_CHAT), "chat");
}

Test(names, says_instruct)
{
    cr_expect(gs_names_says_instruct("llama3.2:1b-instruct"));
    cr_expect(gs_names_says_instruct("gemma3:4b-it"));
    cr_expect(gs_names_says_instruct("tinyllama1.1:b-chat"));
    cr_expect_not(gs_names_says_instruct("qwen3:8b"));
    cr_expect_not(gs_names_says_instruct("gpt-oss:20b"));
    cr_expect_not(gs_names_says_instruct("granite:8b-italian")); /* "it" must be a whole word */
}

static void resolve(gs_names_entry *e, size_t n, const char *const *files)
{
    char **bases = calloc(n, sizeof *bases);
    char **quants = calloc(n, sizeof *quants);
    for (size_t i = 0; i < n; i++) {
        bases[i] = gs_names_from_file(files[i]);
        quants[i] = gs_names_quant_from_file(files[i]);
        e[i].path = files[i];
        e[i].base = bases[i];
        e[i].quant = quants[i];
    }
    gs_names_resolve(e, n, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        free(bases[i]);
        free(quants[i]);
        e[i].base = e[i].quant = NULL;
    }
    free(bases);
    free(quants);
}

Test(names, collisions_get_quant_then_number)
{
    const char *files[] = {
        "/m/b/Llama-3.2-1B-Instruct-Q8_0.gguf",
        "/m/a/llama-3.2-1b-instruct-q4_k_m.gguf",
        "/m/c/Llama-3.2-1B-Instruct-Q4_K_M.gguf", /* same quant as /m/a: numbered after it */
        "/m/qwen3-4b.gguf",                        /* unique: untouched */
        "/m/z/phi-2.gguf",                         /* no quant, two copies */
        "/m/y/phi-2.gguf",
    };
    gs_names_entry e[6] = {0};
    resolve(e, 6, files);
    cr_expect_str_eq(e[0].name, "llama3.2:1b-instruct-q8_0");
    cr_expect_str_eq(e[1].name, "llama3.2:1b-instruct-q4_k_m");
    cr_expect_str_eq(e[2].name, "llama3.2:1b-instruct-q4_k_m-2");
    cr_expect_str_eq(e[3].name, "qwen3:4b");
    cr_expect_str_eq(e[4].name, "phi2-2");
    cr_expect_str_eq(e[5].name, "phi2");
    for (int i = 0; i < 6; i++)
        free(e[i].name);
}

Test(names, collisions_do_not_depend_on_input_order)
{
    const char *f1[] = {"/a/x-7b.Q4_K_M.gguf", "/b/x-7b.Q4_K_M.gguf", "/c/x-7b.gguf",
                        "/d/x-7b-2.gguf", "/e/x-7b.gguf"};
    const char *f2[] = {"/e/x-7b.gguf", "/d/x-7b-2.gguf", "/c/x-7b.gguf", "/b/x-7b.Q4_K_M.gguf",
                        "/a/x-7b.Q4_K_M.gguf"};
    gs_names_entry a[5] = {0}, b[5] = {0};
    resolve(a, 5, f1);
    resolve(b, 5, f2);
    for (int i = 0; i < 5; i++) {
        cr_expect_str_eq(a[i].name, b[4 - i].name, "%s", f1[i]);
        for (int j = 0; j < i; j++)
            cr_expect_str_neq(a[i].name, a[j].name);
    }
    cr_expect_str_eq(a[0].name, "x:7b-q4_k_m");
    cr_expect_str_eq(a[1].name, "x:7b-q4_k_m-2");
    cr_expect_str_eq(a[2].name, "x:7b");
    /* "x:7b-2" is a real file's name: the numbered duplicate skips it */
    cr_expect_str_eq(a[3].name, "x:7b-2");
    cr_expect_str_eq(a[4].name, "x:7b-3");
    for (int i = 0; i < 5; i++) {
        free(a[i].name);
        free(b[i].name);
    }
}

Test(names, reserved_names_are_never_given)
{
    gs_names_entry e[1] = {{.path = "/a.gguf", .base = "gpt-4", .quant = NULL}};
    const char *res[] = {"gpt-4"};
    gs_names_resolve(e, 1, res, 1);
    cr_expect_str_eq(e[0].name, "gpt-4-2");
    free(e[0].name);
}

/* Many files, many collisions (the names are hashed now, not compared pairwise): every name is
 * unique, and a reversed input gives the same names. */
Test(names, collisions_at_scale_stay_unique_and_ordered)
{
    enum { N = 600 };
    static char files[N][64];
    const char *f1[N], *f2[N];
    for (int i = 0; i < N; i++) {
        /* 60 base names, each in 10 files; three quants among them; every tenth has no quant */
        static const char *const q[] = {"Q4_K_M", "Q8_0", "Q4_K_M"};
        if (i % 10 == 9)
            snprintf(files[i], sizeof files[i], "/d%03d/m%02d-7b.gguf", i, i % 60);
        else
            snprintf(files[i], sizeof files[i], "/d%03d/m%02d-7b.%s.gguf", i, i % 60, q[i % 3]);
        f1[i] = files[i];
        f2[N - 1 - i] = files[i];
    }
    gs_names_entry *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b);
    resolve(a, N, f1);
    resolve(b, N, f2);
    for (int i = 0; i < N; i++) {
        cr_assert_str_eq(a[i].name, b[N - 1 - i].name, "%s", f1[i]);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(a[i].name, a[j].name, "%s and %s", f1[i], f1[j]);
    }
    for (int i = 0; i < N; i++) {
        free(a[i].name);
        free(b[i].name);
    }
    free(a);
    free(b);
}

static int alias_of(const int *out, int k) { return out[k]; }

Test(names, aliases_follow_the_seed)
{
    gs_alias_cand c[] = {
        {"llama3.2:1b-instruct", GS_KIND_CHAT, 1000000000ULL, true},
        {"qwen3:8b", GS_KIND_CHAT, 8000000000ULL, false},
        {"mistral:7b-instruct", GS_KIND_CHAT, 7000000000ULL, true},
        {"nomic-embed-text", GS_KIND_EMBEDDING, 137000000ULL, false},
        {"all-minilm-l6", GS_KIND_EMBEDDING, 22000000ULL, false},
        {"bge-reranker-v2:m3", GS_KIND_RERANKER, 568000000ULL, false},
        {"e5:mistral-7b-instruct", GS_KIND_EMBEDDING, 7000000000ULL, true},
        {"smollm2:360m-instruct", GS_KIND_CHAT, 360000000ULL, true},
        {"gemma3:4b-it", GS_KIND_VISION, 4000000000ULL, true},
        {"mystery", GS_KIND_CHAT, 0, true},
    };
    int out[GS_ALIAS_COUNT];
    gs_names_choose_aliases(c, sizeof c / sizeof c[0], NULL, 0, out);
    cr_expect_str_eq(c[alias_of(out, GS_ALIAS_GPT4)].name, "qwen3:8b");
    cr_expect_str_eq(c[alias_of(out, GS_ALIAS_GPT35_TURBO)].name, "smollm2:360m-instruct");
    cr_expect_str_eq(c[alias_of(out, GS_ALIAS_DAVINCI)].name, "mistral:7b-instruct");
    cr_expect_str_eq(c[alias_of(out, GS_ALIAS_EMBEDDING_ADA)].name, "all-minilm-l6");
    cr_expect_str_eq(gs_names_openai_aliases[GS_ALIAS_EMBEDDING_ADA], "text-embedding-ada-002");
}

Test(names, aliases_ties_go_to_the_first_name)
{
    gs_alias_cand c[] = {
        {"b:7b-instruct", GS_KIND_CHAT, 7000000000ULL, true},
        {"a:7b-instruct", GS_KIND_CHAT, 7000000000ULL, true},
        {"d:1b-chat", GS_KIND_CHAT, 1000000000ULL, true},
        {"c:1b-chat", GS_KIND_CHAT, 1000000000ULL, true},
    };
    int out[GS_ALIAS_COUNT], out2[GS_ALIAS_COUNT];
    gs_names_choose_aliases(c, 4, NULL, 0, out);
    cr_expect_str_eq(c[out[GS_ALIAS_GPT4]].name, "a:7b-instruct");
    cr_expect_str_eq(c[out[GS_ALIAS_DAVINCI]].name, "a:7b-instruct");
    cr_expect_str_eq(c[out[GS_ALIAS_GPT35_TURBO]].name, "c:1b-chat");
    cr_expect_eq(out[GS_ALIAS_EMBEDDING_ADA], -1);
    /* same answer for the reversed list */
    gs_alias_cand r[] = {c[3], c[2], c[1], c[0]};
    gs_names_choose_aliases(r, 4, NULL, 0, out2);
    cr_expect_str_eq(r[out2[GS_ALIAS_GPT4]].name, "a:7b-instruct");
    cr_expect_str_eq(r[out2[GS_ALIAS_GPT35_TURBO]].name, "c:1b-chat");
}

Test(names, aliases_never_collide)
{
    gs_alias_cand c[] = {
        {"big:70b-instruct", GS_KIND_CHAT, 70000000000ULL, true},
        {"gpt-3.5-turbo", GS_KIND_CHAT, 1000000000ULL, true}, /* a model already named so */
    };
    const char *reserved[] = {"gpt-4"}; /* a user alias */
    int out[GS_ALIAS_COUNT];
    gs_names_choose_aliases(c, 2, reserved, 1, out);
    cr_expect_eq(out[GS_ALIAS_GPT4], -1);
    cr_expect_eq(out[GS_ALIAS_GPT35_TURBO], -1);
    cr_expect_eq(out[GS_ALIAS_DAVINCI], 0);
}
