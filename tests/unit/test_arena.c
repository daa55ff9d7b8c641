/* The per-request arena and the header-line collector that uses it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "hdrs.h"

Test(arena, allocations_are_aligned_and_distinct)
{
    gs_arena_pool pool;
    gs_arena_pool_init(&pool, 4);
    gs_arena a;
    gs_arena_init(&a, &pool, 0);
    char *prev = NULL;
    for (int i = 1; i < 200; i++) {
        char *p = gs_arena_alloc(&a, (size_t)i);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % _Alignof(max_align_t), 0, "allocation %d is aligned", i);
        memset(p, i, (size_t)i);
        if (prev)
            cr_assert_eq((unsigned char)prev[0], (unsigned char)(i - 1), "earlier bytes intact");
        prev = p;
    }
    gs_arena_reset(&a);
    cr_assert_eq(a.used, 0);
    cr_assert_gt(pool.nfree, 0, "the blocks went back to the pool");
    cr_assert_leq(pool.nfree, 4, "but no more than max_free");
    gs_arena_pool_free(&pool);
    cr_assert_eq(pool.nfree, 0);
}

Test(arena, the_limit_refuses_and_leaves_the_arena_as_it_was)
{
    gs_arena a;
    gs_arena_init(&a, NULL, 100);
    cr_assert_not_null(gs_arena_alloc(&a, 60));
    cr_assert_null(gs_arena_alloc(&a, 41), "60 + 41 > 100");
    cr_assert_eq(a.used, 60);
    char *s = gs_arena_strndup(&a, "abcdefghij", 10); /* 11 bytes: 71 */
    cr_assert_str_eq(s, "abcdefghij");
    cr_assert_null(gs_arena_append(&a, s, 10, "0123456789012345678901234567890", 30), "101 > 100");
    cr_assert_str_eq(s, "abcdefghij", "the string is untouched");
    cr_assert_eq(a.used, 71);
    gs_arena_reset(&a);
}

Test(arena, append_grows_in_place_and_moves_when_it_must)
{
    gs_arena_pool pool;
    gs_arena_pool_init(&pool, 0);
    gs_arena a;
    gs_arena_init(&a, &pool, 0);
    char *s = gs_arena_append(&a, NULL, 0, "Content", 7);
    char *same = gs_arena_append(&a, s, 7, "-Type", 5);
    cr_assert_eq(same, s, "the last allocation grows where it is");
    cr_assert_str_eq(s, "Content-Type");
    char *other = gs_arena_strndup(&a, "x", 1);
    char *moved = gs_arena_append(&a, s, 12, "!", 1);
    cr_assert_neq(moved, s, "not the last allocation any more: copied");
    cr_assert_str_eq(moved, "Content-Type!");
    cr_assert_str_eq(other, "x");
    /* A string far bigger than a block, built from many pieces. */
    char *big = NULL;
    size_t len = 0;
    char piece[100];
    memset(piece, 'z', sizeof piece);
    for (int i = 0; i < 300; i++) {
        big = gs_arena_append(&a, big, len, piece, sizeof piece);
        cr_assert_not_null(big);
        len += sizeof piece;
    }
    cr_assert_eq(strlen(big), 30000);
    cr_assert_eq(big[29999], 'z');
    gs_arena_reset(&a);
    gs_arena_pool_free(&pool);
}

Test(http_hdrs, lines_from_pieces_with_empty_values_and_a_limit)
{
    gs_arena a;
    gs_arena_init(&a, NULL, 0);
    gs_hdrs h;
    gs_hdrs_init(&h, &a, 20);
    cr_assert_eq(gs_hdrs_name(&h, "Ho", 2), 0);
    cr_assert_eq(gs_hdrs_name(&h, "st", 2), 0);
    cr_assert_eq(gs_hdrs_value(&h, "local", 5), 0);
    cr_assert_eq(gs_hdrs_value(&h, "host", 4), 0);
    cr_assert_eq(gs_hdrs_line(&h), 0);
    cr_assert_eq(gs_hdrs_name(&h, "X-Empty", 7), 0);
    cr_assert_eq(gs_hdrs_line(&h), 0, "llhttp sends no value piece for an empty value");
    cr_assert_eq(h.n, 2);
    cr_assert_str_eq(h.v[0].name, "Host");
    cr_assert_str_eq(h.v[0].value, "localhost");
    cr_assert_str_eq(h.v[1].name, "X-Empty");
    cr_assert_str_eq(h.v[1].value, "");
    /* The array grows past its first 16 lines and keeps the earlier ones. */
    for (int i = 2; i < 20; i++) {
        char n[8] = {'h', (char)('a' + i), 0};
        cr_assert_eq(gs_hdrs_name(&h, n, 2), 0);
        cr_assert_eq(gs_hdrs_value(&h, n, 2), 0);
        cr_assert_eq(gs_hdrs_line(&h), 0, "line %d", i);
    }
    cr_assert_str_eq(h.v[0].value, "localhost");
    cr_assert_str_eq(h.v[19].name, "ht");
    cr_assert_eq(gs_hdrs_name(&h, "one", 3), 0);
    cr_assert_eq(gs_hdrs_line(&h), -E2BIG, "line 21 of at most 20");
    gs_arena_reset(&a);
    gs_hdrs_init(&h, &a, 20);
    cr_assert_eq(h.n, 0, "init forgets the lines");
}
