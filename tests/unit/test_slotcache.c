/* The slot cache's decisions: command-line facts, the key, the LRU, /slots answers, the folder. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotcache.h"

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))
#define KEY(...) gs_slotcache_key(ARGV(__VA_ARGS__), ARGC(__VA_ARGS__))

Test(slotcache, argv_facts)
{
    char **a = ARGV("/opt/bin/llama-server", "-m", "/m/a.gguf", "--port", "5800",
                    "--slot-save-path=/tmp/s");
    int n = 6;
    cr_assert_str_eq(gs_slotcache_model_file(a, n), "/m/a.gguf");
    cr_assert_str_eq(gs_slotcache_argv_dir(a, n), "/tmp/s");
    cr_assert(gs_slotcache_is_llama_server(a, n));
    char **b = ARGV("docker", "run", "--model=/x.gguf", "--model", "/y.gguf");
    cr_assert_str_eq(gs_slotcache_model_file(b, 5), "/y.gguf", "the last one wins");
    cr_assert_null(gs_slotcache_argv_dir(b, 5));
    cr_assert_not(gs_slotcache_is_llama_server(b, 5));
    cr_assert(gs_slotcache_is_llama_server(ARGV("llama-server-cuda"), 1));
    cr_assert_null(gs_slotcache_model_file(ARGV("llama-server", "-m"), 2), "no value");
    cr_assert_null(gs_slotcache_model_file(ARGV("llama-server", "-md", "x"), 3), "-md is not -m");
}

Test(slotcache, key_follows_kv_arguments_only)
{
    char *base = KEY("llama-server", "-m", "/m/a.gguf", "-c", "4096", "--port", "1");
    char *same = KEY("llama-server", "--port", "2", "--ctx-size=4096", "--model", "/m/a.gguf",
                     "--alias", "x", "--jinja", "-ngl", "99");
    cr_assert_str_eq(base, same, "port, alias, jinja, gpu layers and spelling do not matter");
    struct {
        const char *what;
        char *key;
    } differ[] = {
        {"context", KEY("llama-server", "-m", "/m/a.gguf", "-c", "8192")},
        {"model file", KEY("llama-server", "-m", "/m/b.gguf", "-c", "4096")},
        {"parallel", KEY("llama-server", "-m", "/m/a.gguf", "-c", "4096", "-np", "2")},
        {"cache type", KEY("llama-server", "-m", "/m/a.gguf", "-c", "4096", "-ctk", "q8_0")},
        {"flash attention", KEY("llama-server", "-m", "/m/a.gguf", "-c", "4096", "-fa", "on")},
        {"swa", KEY("llama-server", "-m", "/m/a.gguf", "-c", "4096", "--swa-full")},
        {"rope", KEY("llama-server", "-m", "/m/a.gguf", "-c", "4096", "--rope-freq-base", "1e6")},
        {"lora", KEY("llama-server", "-m", "/m/a.gguf", "-c", "4096", "--lora-scaled", "l", "0.5")},
        {"program", KEY("/other/llama-server", "-m", "/m/a.gguf", "-c", "4096")},
    };
    for (size_t i = 0; i < sizeof differ / sizeof differ[0]; i++) {
        cr_assert_str_neq(base, differ[i].key, "%s changes the key", differ[i].what);
        free(differ[i].key);
    }
    char *fa1 = KEY("llama-server", "-m", "/m/a.gguf", "-fa", "--port", "1");
    char *fa2 = KEY("llama-server", "-m", "/m/a.gguf", "-fa", "on");
    cr_assert(strstr(fa1, "--flash-attn\n"), "a bare -fa takes no value: %s", fa1);
    cr_assert(strstr(fa2, "--flash-attn on\n"));
    free(fa1);
    free(fa2);
    free(base);
    free(same);
}

Test(slotcache, key_sees_the_model_file_change)
{
    char dir[] = "/tmp/gs-slotkey-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char f[300];
    snprintf(f, sizeof f, "%s/m.gguf", dir);
    FILE *fp = fopen(f, "w");
    fputs("GGUF one", fp);
    fclose(fp);
    char *k1 = KEY("llama-server", "-m", f);
    fp = fopen(f, "a");
    fputs(" and more", fp);
    fclose(fp);
    char *k2 = KEY("llama-server", "-m", f);
    cr_assert_str_neq(k1, k2, "a rewritten model file drops the cache");
    free(k1);
    free(k2);
    unlink(f);
    rmdir(dir);
}

Test(slotcache, dir_names)
{
    char *a = gs_slotcache_dir_name("llama3.2:1b-instruct");
    char *b = gs_slotcache_dir_name("llama3.2_1b-instruct");
    char *c = gs_slotcache_dir_name("../etc");
    cr_assert(strncmp(a, "llama3.2_1b-instruct-", 21) == 0, "%s", a);
    cr_assert_str_neq(a, b, "replaced characters do not collide");
    cr_assert_null(strchr(c, '/'));
    cr_assert_neq(c[0], '.');
    free(a);
    free(b);
    free(c);
}

Test(slotcache, lru_table)
{
    gs_slot_file f[] = {
        {"a", 100, 30}, {"b", 100, 10}, {"c", 100, 20}, {"d", 50, 40},
    };
    unsigned char drop[4];
    cr_assert_eq(gs_slotcache_pick_evict(f, 4, 350, drop), 0, "fits");
    cr_assert_eq(gs_slotcache_pick_evict(f, 4, 300, drop), 1);
    cr_assert(drop[1] && !drop[0] && !drop[2] && !drop[3], "oldest (b) first");
    cr_assert_eq(gs_slotcache_pick_evict(f, 4, 150, drop), 2);
    cr_assert(drop[1] && drop[2] && !drop[0] && !drop[3]);
    cr_assert_eq(gs_slotcache_pick_evict(f, 4, 0, drop), 4, "a zero cap keeps nothing");
    cr_assert_eq(gs_slotcache_pick_evict(f, 0, 0, drop), 0);
}

Test(slotcache, slots_answers)
{
    const char *recent = "[{\"id\":0,\"n_ctx\":1024,\"is_processing\":false,\"id_task\":1,"
                         "\"n_prompt_tokens\":47},{\"id\":1,\"n_ctx\":1024,\"is_processing\":false},"
                         "{\"id\":2,\"is_processing\":true,\"n_prompt_tokens\":9},"
                         "{\"id\":3,\"n_past\":12},{\"id\":4,\"prompt\":\"hi\"},{\"id\":-1,"
                         "\"n_past\":3},{\"n_past\":3}]";
    int ids[8];
    int n = gs_slotcache_busy_slots(recent, strlen(recent), ids, 8);
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], 0);
    cr_assert_eq(ids[1], 3);
    cr_assert_eq(ids[2], 4);
    cr_assert_eq(gs_slotcache_busy_slots(recent, strlen(recent), ids, 1), 1, "bounded");
    cr_assert_eq(gs_slotcache_count_slots(recent, strlen(recent)), 7);
    cr_assert_eq(gs_slotcache_busy_slots("{\"error\":1}", 11, ids, 8), -1);
    cr_assert_eq(gs_slotcache_count_slots("[1,", 3), -1);
}

static void touch(const char *dir, const char *name, size_t bytes, long age_s)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    for (size_t i = 0; i < bytes; i++)
        fputc('x', f);
    fclose(f);
    struct timespec ts[2] = {{time(NULL) - age_s, 0}, {time(NULL) - age_s, 0}};
    utimensat(AT_FDCWD, p, ts, 0);
}

static bool exists(const char *dir, const char *name)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

Test(slotcache, prepare_drops_files_of_another_key)
{
    char root[] = "/tmp/gs-slots-XXXXXX";
    cr_assert_not_null(mkdtemp(root));
    char dir[300];
    snprintf(dir, sizeof dir, "%s/deep/model-a", root);
    cr_assert_eq(gs_slotcache_prepare(dir, "key one\n"), 0, "makes the folders");
    touch(dir, "slot0.bin", 10, 0);
    touch(dir, "slot1.bin.part", 10, 0);
    touch(dir, "notes.txt", 10, 0);
    cr_assert_eq(gs_slotcache_prepare(dir, "key one\n"), 0);
    cr_assert(exists(dir, "slot0.bin"), "same key: kept");
    cr_assert_not(exists(dir, "slot1.bin.part"), "a cut save is always removed");
    cr_assert_eq(gs_slotcache_prepare(dir, "key two\n"), 0);
    cr_assert_not(exists(dir, "slot0.bin"), "another key: dropped");
    cr_assert(exists(dir, "notes.txt"), "other files are not ours");
    touch(dir, "slot0.bin", 10, 0);
    cr_assert_eq(gs_slotcache_prepare(dir, "key two\n"), 0);
    cr_assert(exists(dir, "slot0.bin"), "the new key was remembered");
    /* A folder that cannot be made is an error, not a crash. */
    char bad[400];
    snprintf(bad, sizeof bad, "%s/notes.txt/sub", dir);
    cr_assert_lt(gs_slotcache_prepare(bad, "k"), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_assert_eq(system(cmd), 0);
}

Test(slotcache, trim_removes_least_recently_used_across_models)
{
    char root[] = "/tmp/gs-slots-XXXXXX";
    cr_assert_not_null(mkdtemp(root));
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/a", root);
    snprintf(b, sizeof b, "%s/b", root);
    gs_slotcache_prepare(a, "ka");
    gs_slotcache_prepare(b, "kb");
    touch(a, "slot0.bin", 1000, 300);
    touch(b, "slot0.bin", 1000, 200);
    touch(a, "slot1.bin", 1000, 100);
    gs_slotcache_trim(root, 2500);
    cr_assert_not(exists(a, "slot0.bin"), "oldest out");
    cr_assert(exists(b, "slot0.bin"));
    cr_assert(exists(a, "slot1.bin"));
    cr_assert(exists(a, ".ggswap-slots-key"), "keys are not counted or removed");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_assert_eq(system(cmd), 0);
}
