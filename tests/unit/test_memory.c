/* memory: the per-model figures are taken when first needed, not when the config arrives. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ggufw.h"
#include "helpers.h"
#include "mem.h"
#include "memory.h"

/* A model whose file does not exist yet when the config (and gs_memory) is made: the estimate
 * comes from the file as it is when the model is first planned, and a model never asked about
 * never has its file read (its later deletion changes nothing). */
Test(memory, estimates_are_taken_on_first_use)
{
    char dir[] = "/tmp/gs-memory-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *a = gs_mem_printf("%s/a.gguf", dir), *b = gs_mem_printf("%s/b.gguf", dir);
    char *yaml = gs_mem_printf("models:\n  a:\n    cmd: llama-server -m %s -c 512 --port ${PORT}\n"
                               "  b:\n    cmd: llama-server -m %s -c 512 --port ${PORT}\n", a, b);
    gs_config *c = test_config(yaml);
    cr_assert_eq(gs_gguf_write_tiny_llama(b, "b", 1, 64, 2, 128), 0);
    gs_memory_settings set = {.enabled = true, .ngpu = 0};
    gs_memory *m = gs_memory_new(c, &set, dir);
    cr_assert_eq(gs_gguf_write_tiny_llama(a, "a", 1, 256, 4, 1024), 0);
    uint64_t need_a = gs_memory_need_total(m, gs_config_find(c, "a"));
    cr_expect_gt(need_a, 16ull << 20, "a's estimate from the file written after gs_memory_new: %llu",
                 (unsigned long long)need_a);
    cr_expect_eq(gs_memory_need_total(m, gs_config_find(c, "a")), need_a, "the same the second time");
    unlink(b);
    cr_expect_eq(gs_memory_need_total(m, gs_config_find(c, "b")), 0, "b was never read: no file now");
    gs_memory_free(m);
    gs_config_free(c);
    unlink(a);
    rmdir(dir);
    free(a);
    free(b);
    free(yaml);
}
