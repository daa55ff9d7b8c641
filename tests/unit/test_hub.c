#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"

/* Every REF form of SPEC §1, and what it must become. */
static const struct {
    const char *ref, *quant;
    int rc;
    gs_hub_ref_kind kind;
    const char *repo, *rev, *q, *path, *url;
} refs[] = {
    {"org/repo", NULL, 0, GS_HUB_REF_REPO, "org/repo", "main", "", "", ""},
    {"bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q8_0", NULL, 0, GS_HUB_REF_REPO,
     "bartowski/Qwen2.5-0.5B-Instruct-GGUF", "main", "Q8_0", "", ""},
    {"org/repo:Q8_0", "Q4_K_M", 0, GS_HUB_REF_REPO, "org/repo", "main", "Q4_K_M", "", ""},
    {"org/repo", "q5_k_s", 0, GS_HUB_REF_REPO, "org/repo", "main", "q5_k_s", "", ""},
    {"hf.co/org/repo", NULL, 0, GS_HUB_REF_REPO, "org/repo", "main", "", "", ""},
    {"hf.co/org/repo:IQ4_XS", NULL, 0, GS_HUB_REF_REPO, "org/repo", "main", "IQ4_XS", "", ""},
    {"huggingface.co/org/repo:UD-Q4_K_XL", NULL, 0, GS_HUB_REF_REPO, "org/repo", "main",
     "UD-Q4_K_XL", "", ""},
    {"org/repo/model-Q8_0.gguf", NULL, 0, GS_HUB_REF_FILE, "org/repo", "main", "",
     "model-Q8_0.gguf", ""},
    {"org/repo/Q4_K_M/big-Q4_K_M-00001-of-00002.gguf", NULL, 0, GS_HUB_REF_FILE, "org/repo",
     "main", "", "Q4_K_M/big-Q4_K_M-00001-of-00002.gguf", ""},
    {"https://huggingface.co/org/repo/resolve/main/m.gguf", NULL, 0, GS_HUB_REF_FILE, "org/repo",
     "main", "", "m.gguf", ""},
    {"https://huggingface.co/org/repo/blob/v2/m.gguf?download=true", NULL, 0, GS_HUB_REF_FILE,
     "org/repo", "v2", "", "m.gguf", ""},
    {"https://hf.co/org/repo:Q8_0", NULL, 0, GS_HUB_REF_REPO, "org/repo", "main", "Q8_0", "", ""},
    {"http://127.0.0.1:9/org/repo/resolve/main/x.gguf", NULL, 0, GS_HUB_REF_FILE, "org/repo",
     "main", "", "x.gguf", ""},
    {"https://example.com/models/x.gguf", NULL, 0, GS_HUB_REF_URL, "", "", "", "",
     "https://example.com/models/x.gguf"},
    /* refused, with a reason */
    {"", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
    {"repo", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
    {"org/", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
    {"/repo", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
    {"org/re po", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
    {"org/repo:", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
    {"org/repo:Q4;rm", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
    {"org/repo/../../etc/passwd.gguf", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
    {"org/repo/readme.md", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
    {"org/repo/x.gguf", "Q8_0", -EINVAL, 0, 0, 0, 0, 0, 0},
    {"https://example.com/x.bin", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
    {"ftp://example.com/x.gguf", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
    {"..org/repo", NULL, -EINVAL, 0, 0, 0, 0, 0, 0},
};

Test(hub, parse_ref)
{
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        gs_hub_ref r;
        char err[300];
        int rc = gs_hub_parse_ref(refs[i].ref, refs[i].quant, "http://127.0.0.1:9", &r, err,
                                  sizeof err);
        cr_expect_eq(rc, refs[i].rc, "%s: rc %d (%s)", refs[i].ref, rc, err);
        if (rc < 0) {
            cr_expect(err[0], "%s: no reason given", refs[i].ref);
            continue;
        }
        cr_expect_eq(r.kind, refs[i].kind, "%s: kind %d", refs[i].ref, r.kind);
        cr_expect_str_eq(r.repo, refs[i].repo, "%s", refs[i].ref);
        cr_expect_str_eq(r.rev, refs[i].rev, "%s", refs[i].ref);
        cr_expect_str_eq(r.quant, refs[i].q, "%s", refs[i].ref);
        cr_expect_str_eq(r.path, refs[i].path, "%s", refs[i].ref);
        cr_expect_str_eq(r.url, refs[i].url, "%s", refs[i].ref);
    }
}

static const char tree[] =
    "[{\"type\":\"directory\",\"oid\":\"x\",\"size\":0,\"path\":\"Q4_K_M\"},"
    "{\"type\":\"file\",\"oid\":\"a\",\"size\":1519,\"path\":\"README.md\"},"
    "{\"type\":\"file\",\"size\":134,\"path\":\"m-Q8_0.gguf\",\"lfs\":{\"oid\":"
    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"size\":5000,"
    "\"pointerSize\":134}},"
    "{\"type\":\"file\",\"size\":10,\"path\":\"m-Q4_K_M.gguf\",\"lfs\":{\"oid\":"
    "\"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"size\":3000}},"
    "{\"type\":\"file\",\"size\":10,\"path\":\"../evil.gguf\"},"
    "{\"type\":\"file\",\"size\":10,\"path\":\"/abs.gguf\"},"
    "{\"type\":\"file\",\"path\":42},"
    "7, null, \"x\","
    "{\"type\":\"file\",\"size\":900,\"path\":\"mmproj-m-Q8_0.gguf\"},"
    "{\"type\":\"file\",\"size\":900,\"path\":\"mmproj-m-f16.gguf\"},"
    "{\"type\":\"file\",\"size\":1,\"path\":\"big/big-Q2_K-00002-of-00003.gguf\"},"
    "{\"type\":\"file\",\"size\":1,\"path\":\"big/big-Q2_K-00001-of-00003.gguf\"},"
    "{\"type\":\"file\",\"size\":1,\"path\":\"big/big-Q2_K-00003-of-00003.gguf\"},"
    "{\"type\":\"file\",\"size\":1,\"path\":\"half/h-Q3_K-00001-of-00002.gguf\"}]";

static void load(gs_hub_file **f, int *n)
{
    *f = NULL;
    *n = 0;
    cr_assert_eq(gs_hub_tree_parse(tree, strlen(tree), f, n), 0);
}

Test(hub, tree_parse)
{
    gs_hub_file *f;
    int n;
    load(&f, &n);
    cr_assert_eq(n, 9, "unsafe paths and directories are skipped, got %d", n);
    cr_expect_str_eq(f[0].path, "README.md");
    cr_expect_eq(f[0].size, 1519);
    cr_expect_str_eq(f[0].sha256, "");
    cr_expect_str_eq(f[1].path, "m-Q8_0.gguf");
    cr_expect_eq(f[1].size, 5000, "the LFS size, not the pointer's");
    cr_expect_str_eq(f[1].sha256, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    cr_expect_str_eq(f[2].sha256, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    gs_hub_files_free(f, n);

    static const char *bad[] = {"", "{}", "nul", "[", "{\"a\":1}", "\"x\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = NULL;
        n = 0;
        cr_expect_eq(gs_hub_tree_parse(bad[i], strlen(bad[i]), &f, &n), -EINVAL, "%s", bad[i]);
        gs_hub_files_free(f, n);
    }
}

/* The files each request must fetch, by path, joined with " ". */
static const struct {
    const char *ref, *quant;
    int rc;
    const char *want;   /* paths, or a phrase the error must contain */
} picks[] = {
    {"o/r", NULL, 2, "m-Q4_K_M.gguf mmproj-m-f16.gguf"},
    {"o/r:q8_0", NULL, 2, "m-Q8_0.gguf mmproj-m-f16.gguf"},
    {"o/r:Q2_K", NULL, 4,
     "big/big-Q2_K-00001-of-00003.gguf big/big-Q2_K-00002-of-00003.gguf "
     "big/big-Q2_K-00003-of-00003.gguf mmproj-m-f16.gguf"},
    {"o/r/big/big-Q2_K-00002-of-00003.gguf", NULL, 4,
     "big/big-Q2_K-00001-of-00003.gguf big/big-Q2_K-00002-of-00003.gguf "
     "big/big-Q2_K-00003-of-00003.gguf mmproj-m-f16.gguf"},
    {"o/r/mmproj-m-Q8_0.gguf", NULL, 1, "mmproj-m-Q8_0.gguf"},
    {"o/r:Q3_K", NULL, -ENOENT, "part 2 of 2"},
    {"o/r:Q6_K", NULL, -ENOENT, "it has: Q2_K, Q3_K, Q4_K_M, Q8_0"},
    {"o/r/nope.gguf", NULL, -ENOENT, "has no file nope.gguf"},
};

Test(hub, select)
{
    gs_hub_file *f;
    int n;
    load(&f, &n);
    for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
        gs_hub_ref r;
        char err[600];
        cr_assert_eq(gs_hub_parse_ref(picks[i].ref, picks[i].quant, NULL, &r, err, sizeof err), 0);
        int pick[GS_HUB_MAX_PICK];
        int rc = gs_hub_select(f, n, &r, pick, GS_HUB_MAX_PICK, err, sizeof err);
        cr_expect_eq(rc, picks[i].rc, "%s: %d (%s)", picks[i].ref, rc, err);
        if (rc < 0) {
            cr_expect(strstr(err, picks[i].want), "%s: '%s' lacks '%s'", picks[i].ref, err,
                      picks[i].want);
            continue;
        }
        char got[2000] = "";
        for (int k = 0; k < rc; k++) {
            strcat(got, k ? " " : "");
            strcat(got, f[pick[k]].path);
        }
        cr_expect_str_eq(got, picks[i].want, "%s", picks[i].ref);
    }
    gs_hub_files_free(f, n);
}

Test(hub, default_quant)
{
    /* No Q4_K_M: one quant is the default; several make the user choose. */
    const char *one = "[{\"type\":\"file\",\"path\":\"a-Q8_0.gguf\",\"size\":3}]";
    const char *two = "[{\"type\":\"file\",\"path\":\"a-Q8_0.gguf\",\"size\":3},"
                      "{\"type\":\"file\",\"path\":\"a-F16.gguf\",\"size\":3}]";
    const char *none = "[{\"type\":\"file\",\"path\":\"README.md\",\"size\":3}]";
    gs_hub_ref r;
    char err[600];
    gs_hub_parse_ref("o/r", NULL, NULL, &r, err, sizeof err);
    int pick[8];
    gs_hub_file *f = NULL;
    int n = 0;
    gs_hub_tree_parse(one, strlen(one), &f, &n);
    cr_expect_eq(gs_hub_select(f, n, &r, pick, 8, err, sizeof err), 1);
    gs_hub_files_free(f, n);
    f = NULL, n = 0;
    gs_hub_tree_parse(two, strlen(two), &f, &n);
    cr_expect_eq(gs_hub_select(f, n, &r, pick, 8, err, sizeof err), -ENOENT);
    cr_expect(strstr(err, "F16, Q8_0"), "%s", err);
    gs_hub_files_free(f, n);
    f = NULL, n = 0;
    gs_hub_tree_parse(none, strlen(none), &f, &n);
    cr_expect_eq(gs_hub_select(f, n, &r, pick, 8, err, sizeof err), -ENOENT);
    cr_expect(strstr(err, "no .gguf"), "%s", err);
    gs_hub_files_free(f, n);
}

static const struct {
    int status;
    const char *code, *msg;
    bool token;
    const char *want;
} errs[] = {
    {404, "RepoNotFound", NULL, false, "not found on the Hub"},
    {401, "RepoNotFound", NULL, false, "not found on the Hub"},
    {404, "EntryNotFound", NULL, true, "not found"},
    {401, "GatedRepo", NULL, false, "hfToken in settings.yaml"},
    {403, "GatedRepo", NULL, true, "accept its terms"},
    {401, NULL, "Access to model o/r is restricted and you are not in the authorized list. "
                "Visit https://huggingface.co/o/r to ask for access. gated", false, "$HF_TOKEN"},
    {401, NULL, NULL, true, "token"},
    {429, NULL, NULL, false, "rate limiting"},
    {503, NULL, NULL, false, "try again later"},
    {418, NULL, NULL, false, "HTTP 418"},
};

Test(hub, http_error)
{
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        char out[600];
        gs_hub_http_error(errs[i].status, errs[i].code, errs[i].msg, "o/r", errs[i].token, out,
                          sizeof out);
        cr_expect(strstr(out, errs[i].want), "%d %s: '%s' lacks '%s'", errs[i].status,
                  errs[i].code ? errs[i].code : "-", out, errs[i].want);
        cr_expect(strstr(out, "o/r"), "names the repo: %s", out);
    }
}

Test(hub, local_name)
{
    cr_expect_str_eq(gs_hub_local_name("a/b/c-Q8_0.gguf"), "c-Q8_0.gguf");
    cr_expect_str_eq(gs_hub_local_name("x.GGUF"), "x.GGUF");
    cr_expect_null(gs_hub_local_name(".hidden.gguf"));
    cr_expect_null(gs_hub_local_name("a/.gguf"));
    cr_expect_null(gs_hub_local_name("a/../b.gguf"));
    cr_expect_null(gs_hub_local_name("model.bin"));
}

Test(hub, search_reduce)
{
    const char *in = "[{\"id\":\"a/b\",\"downloads\":5,\"likes\":2,\"tags\":[\"gguf\"]},"
                     "{\"modelId\":\"c/d\"},{\"nothing\":1},{\"id\":\"e/f\"}]";
    char *s = gs_hub_search_reduce(in, strlen(in), 2);
    cr_assert_not_null(s);
    cr_expect_str_eq(s, "[{\"id\":\"a/b\",\"downloads\":5,\"likes\":2},"
                        "{\"id\":\"c/d\",\"downloads\":0,\"likes\":0}]");
    free(s);
    cr_expect_null(gs_hub_search_reduce("{}", 2, 5));
}
