/* The forwarder's pure parts: which headers are hop-by-hop, and the token count a response
 * reported at its end. */
#include <criterion/criterion.h>
#include <string.h>

#include "forward.h"

Test(forward, hop_by_hop_headers_in_any_case_and_nothing_else)
{
    static const struct {
        const char *name;
        bool hop;
    } cases[] = {
        {"Connection", true},       {"connection", true},     {"KEEP-ALIVE", true},
        {"Proxy-Connection", true}, {"Transfer-Encoding", true}, {"TE", true},
        {"Trailer", true},          {"Upgrade", true},        {"Host", true},
        {"Content-Length", true},   {"Expect", true},         {"Content-Type", false},
        {"Accept", false},          {"Date", false},          {"Server", false},
        {"Te-x", false},            {"Hos", false},           {"Connections", false},
        {"", false},                {"Authorization", false}, {"X-Api-Key", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(gs_fwd_is_hop(cases[i].name), cases[i].hop, "%s", cases[i].name);
}

static long tokens_of(const char *tail, bool sse, long events)
{
    gs_fwd f;
    memset(&f, 0, sizeof f);
    f.tail_len = strlen(tail);
    memcpy(f.tail, tail, f.tail_len);
    f.sse = sse;
    f.events = events;
    return gs_fwd_tokens(&f);
}

Test(forward, tokens_are_the_last_completion_tokens_or_the_counted_deltas)
{
    cr_assert_eq(tokens_of("{\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,\"total\":19}}",
                           false, 0),
                 7);
    cr_assert_eq(tokens_of("\"completion_tokens\":3 ... \"completion_tokens\": 42}", false, 0), 42,
                 "the last mention counts; a space after the colon is fine");
    cr_assert_eq(tokens_of("\"completion_tokens\":", false, 0), -1, "no number");
    cr_assert_eq(tokens_of("\"completion_tokens\":-5", false, 0), -1, "not a count");
    cr_assert_eq(tokens_of("completion_tokens\":9", false, 0), -1, "the quote is part of the key");
    cr_assert_eq(tokens_of("", false, 0), -1);
    cr_assert_eq(tokens_of("data: [DONE]\n\n", true, 6), 5, "a stream without usage: deltas");
    cr_assert_eq(tokens_of("\"completion_tokens\":2}\n\ndata: [DONE]\n\n", true, 6), 2,
                 "usage wins over counting");
}
