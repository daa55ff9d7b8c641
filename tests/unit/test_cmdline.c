#include <criterion/criterion.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "strv.h"

/* Split `text` and compare with the expected words (NULL-terminated). */
static void split_is(const char *text, const char *const *want)
{
    char **av = NULL;
    int ac = -1;
    const char *why = "x";
    int rc = gs_cmdline_split(text, &av, &ac, &why);
    cr_assert_eq(rc, 0, "split failed on [%s]: %s", text, why ? why : "");
    cr_assert_null(why);
    int n = 0;
    while (want[n])
        n++;
    cr_assert_eq(ac, n, "[%s]: %d words, want %d", text, ac, n);
    for (int i = 0; i < n; i++)
        cr_assert_str_eq(av[i], want[i], "[%s] word %d", text, i);
    cr_assert_null(av[ac]);
    gs_strv_free(av);
}

static void split_fails(const char *text, const char *reason)
{
    char **av = (char **)1;
    int ac = 7;
    const char *why = NULL;
    cr_assert_eq(gs_cmdline_split(text, &av, &ac, &why), -EINVAL, "[%s] should fail", text);
    cr_assert_str_eq(why, reason);
    cr_assert_null(av);
    cr_assert_eq(ac, 0);
}

#define W(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(cmdline, plain_words)
{
    split_is("llama-server -m model.gguf  --port 8080", W("llama-server", "-m", "model.gguf", "--port", "8080"));
    split_is("  a\tb\n c  ", W("a", "b", "c"));
    split_is("", (const char *const[]){NULL});
    split_is("   \n\t ", (const char *const[]){NULL});
}

Test(cmdline, single_quotes_are_literal)
{
    split_is("a 'b c' 'd\\e' '$HOME' '\"'", W("a", "b c", "d\\e", "$HOME", "\""));
    split_is("'' x", W("", "x"));
    split_is("pre'mid dle'post", W("premid dlepost"));
}

Test(cmdline, double_quotes_and_escapes)
{
    split_is("\"a b\" \"c\\\"d\" \"e\\\\f\" \"g\\$h\" \"i\\`j\"", W("a b", "c\"d", "e\\f", "g$h", "i`j"));
    /* other backslashes stay inside double quotes */
    split_is("\"a\\nb\" \"\\x\"", W("a\\nb", "\\x"));
    /* backslash-newline inside double quotes vanishes */
    split_is("\"ab\\\ncd\"", W("abcd"));
    split_is("\"\"", W(""));
    split_is("\"it's\"", W("it's"));
}

Test(cmdline, backslash_outside_quotes)
{
    split_is("a\\ b c\\\\d \\'e\\\"", W("a b", "c\\d", "'e\""));
    split_is("a \\\n b", W("a", "b"));
    split_is("a\\\nb", W("ab"));
}

Test(cmdline, no_expansion)
{
    split_is("$HOME ~/x *.gguf ${PORT} `id` $(id) a;b a|b", W("$HOME", "~/x", "*.gguf", "${PORT}", "`id`", "$(id)", "a;b", "a|b"));
}

Test(cmdline, comments_only_at_word_start)
{
    split_is("a # comment here\nb", W("a", "b"));
    split_is("a#b c", W("a#b", "c"));
    split_is("'#x' \"#y\"", W("#x", "#y"));
}

Test(cmdline, errors)
{
    split_fails("a 'b", "unterminated single quote");
    split_fails("a \"b", "unterminated double quote");
    split_fails("a \"b\\\"", "unterminated double quote");
    split_fails("a b\\", "trailing backslash");
    /* err may be NULL */
    char **av;
    int ac;
    cr_assert_eq(gs_cmdline_split("'", &av, &ac, NULL), -EINVAL);
}

Test(cmdline, clean_comments_and_continuations)
{
    char *s = gs_cmdline_clean("# first\nllama-server \\\n  # inside\n  --port 1 \\\n  -m x\n\n   #last\n");
    cr_assert_str_eq(s, "llama-server    --port 1    -m x\n");
    free(s);
    s = gs_cmdline_clean("a\nb\n");
    cr_assert_str_eq(s, "a\nb");
    free(s);
    s = gs_cmdline_clean("a \\   \nb");
    cr_assert_str_eq(s, "a  b");
    free(s);
    s = gs_cmdline_clean("");
    cr_assert_str_eq(s, "");
    free(s);
    s = gs_cmdline_clean("x --chat '#not a comment'");
    cr_assert_str_eq(s, "x --chat '#not a comment'");
    free(s);
    s = gs_cmdline_clean("a\r\nb\r\n");
    cr_assert_str_eq(s, "a\nb");
    free(s);
}

Test(cmdline, clean_then_split)
{
    char *s = gs_cmdline_clean("/usr/bin/llama-server \\\n  # the model\n  -m \"/m/my model.gguf\" \\\n  --port 5800\n");
    split_is(s, W("/usr/bin/llama-server", "-m", "/m/my model.gguf", "--port", "5800"));
    free(s);
}

static void roundtrip(const char *word)
{
    char *q = gs_cmdline_quote(word);
    char *line = NULL;
    /* as one word among others */
    if (asprintf(&line, "cmd %s tail", q) < 0)
        cr_assert_fail();
    split_is(line, W("cmd", word, "tail"));
    free(line);
    free(q);
}

Test(cmdline, quote_plain_words_unchanged)
{
    const char *plain[] = {"llama-server", "/usr/local/bin/llama-server", "-m", "--port", "8080",
                           "a=b", "x,y", "1.5"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++) {
        char *q = gs_cmdline_quote(plain[i]);
        cr_assert_str_eq(q, plain[i]);
        free(q);
    }
}

Test(cmdline, quote_roundtrip)
{
    char *q = gs_cmdline_quote("/m/my model.gguf");
    cr_assert_str_eq(q, "\"/m/my model.gguf\"");
    free(q);
    q = gs_cmdline_quote("a\"b$c`d\\e");
    cr_assert_str_eq(q, "\"a\\\"b\\$c\\`d\\\\e\"");
    free(q);
    q = gs_cmdline_quote("");
    cr_assert_str_eq(q, "\"\"");
    free(q);
    const char *words[] = {"/m/my model.gguf", "it's", "say \"hi\"", "$HOME/x", "${PORT}",
                           "back\\slash", "trail\\", "`id`", "#hash", "tab\there", "new\nline",
                           "*", "~", "a'b\"c$d`e\\f g", "", "ünïcødé file.gguf", "\\\n"};
    for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
        roundtrip(words[i]);
}
