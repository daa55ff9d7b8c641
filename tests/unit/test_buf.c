/* Bounded buffers and the UTF-8 scrub used on child output. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

Test(buf, append_respects_the_limit)
{
    gs_buf b;
    gs_buf_init(&b, 8);
    cr_assert_eq(gs_buf_puts(&b, "12345"), 0);
    cr_assert_eq(gs_buf_puts(&b, "6789"), -E2BIG, "past max fails");
    cr_assert_str_eq(b.data, "12345", "and leaves the buffer as it was");
    cr_assert_eq(gs_buf_printf(&b, "%d", 678), 0);
    cr_assert_str_eq(b.data, "12345678");
    gs_buf_consume(&b, 3);
    cr_assert_str_eq(b.data, "45678");
    char *s = gs_buf_steal(&b);
    cr_assert_str_eq(s, "45678");
    cr_assert_null(b.data);
    free(s);
    gs_buf_free(&b);
}

Test(buf, scrub_keeps_valid_utf8_and_replaces_the_rest)
{
    struct {
        const char *in, *out;
        size_t n;
    } cases[] = {
        {"caf\xc3\xa9 ok", "caf\xc3\xa9 ok", 0},
        {"a\xff\xfe" "b", "a??b", 0},
        {"\xc3", "?", 0},                       /* truncated sequence */
        {"\xc0\xaf", "??", 0},                  /* overlong */
        {"\xed\xa0\x80", "???", 0},             /* surrogate */
        {"\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!", 0},
        {"\xf4\x90\x80\x80", "????", 0},        /* past U+10FFFF */
        {"x\0y", "x?y", 3},                     /* NUL */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cases[i].n ? cases[i].n : strlen(cases[i].in);
        char buf[32];
        memcpy(buf, cases[i].in, n);
        buf[n] = 0;
        gs_buf_scrub_utf8(buf, n);
        cr_assert_eq(memcmp(buf, cases[i].out, n), 0, "case %zu: got '%s'", i, buf);
    }
}

Test(buf, numbers_without_printf_match_printf)
{
    unsigned long long v[] = {0, 1, 9, 10, 255, 4096, 1234567890123ull, 18446744073709551615ull};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char want[32], got[32];
        snprintf(want, sizeof want, "%llu", v[i]);
        size_t n = gs_buf_fmt_u64(got, v[i], 10);
        got[n] = 0;
        cr_assert_str_eq(got, want);
        snprintf(want, sizeof want, "%llx", v[i]);
        n = gs_buf_fmt_u64(got, v[i], 16);
        got[n] = 0;
        cr_assert_str_eq(got, want);
    }
    gs_buf b;
    gs_buf_init(&b, 6);
    cr_assert_eq(gs_buf_put_u64(&b, 12345), 0);
    cr_assert_eq(gs_buf_put_u64(&b, 67), -E2BIG, "the limit holds");
    cr_assert_str_eq(b.data, "12345");
    gs_buf_free(&b);
}
