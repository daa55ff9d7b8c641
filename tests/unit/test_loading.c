/* The early bytes' formats: SSE comments, llama-swap's reasoning chunks, error events. */
#include <criterion/criterion.h>
#include <string.h>

#include "loading.h"

Test(loading, comment_lines_stay_one_line)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_loading_comment(&b, "loading x\nsecond\r");
    cr_assert_str_eq(b.data, ": loading x second \n\n");
    gs_buf_free(&b);
}

Test(loading, llama_swap_chunk_shape)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_loading_chunk(&b, "say \"hi\"\n");
    cr_assert_str_eq(b.data,
                     "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"say \\\"hi\\\"\\n\"}}]}\n\n");
    gs_buf_free(&b);
}

Test(loading, error_event)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_loading_error_event(&b, 502, "server_error", "model a failed to start:\nboom");
    cr_assert_str_eq(b.data, "data: {\"error\":{\"message\":\"model a failed to start:\\nboom\","
                             "\"type\":\"server_error\",\"code\":502}}\n\n");
    gs_buf_free(&b);
}

Test(loading, wants_stream)
{
    struct {
        const char *body;
        bool yes;
    } cases[] = {
        {"{\"model\":\"a\",\"stream\":true}", true},
        {"{\"model\":\"a\",\"stream\":false}", false},
        {"{\"model\":\"a\",\"stream\":\"true\"}", false},
        {"{\"model\":\"a\"}", false},
        {"[true]", false},
        {"not json", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(gs_loading_wants_stream(cases[i].body, strlen(cases[i].body)), cases[i].yes,
                     "%s", cases[i].body);
    cr_assert_not(gs_loading_wants_stream(NULL, 0));
}
