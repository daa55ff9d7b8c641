/* cmdline: split a command line like a POSIX shell would, without running one.
 *
 * llama-swap's `cmd` is a multi-line string: lines whose first non-blank character is `#` are
 * comments, a trailing backslash joins lines, and the rest is split into words with single
 * quotes, double quotes (with \" \\ \$ \` escapes) and backslash escapes, as shlex does. No
 * expansion of any kind happens: `$HOME` stays `$HOME`, `*` stays `*`. The result goes straight
 * to exec, so there is no shell between ggswap and llama-server. */
#ifndef GS_CMDLINE_H
#define GS_CMDLINE_H

/* Remove comment lines and join backslash-continued lines. Returns a new string. */
char *gs_cmdline_clean(const char *text);
/* Split text into words. On success *argv is a NULL-terminated array (free with
 * gs_strv_free) and *argc its length. Returns 0, or -EINVAL for an unterminated quote or a
 * trailing escape, with a short reason in *err (static string) when err is not NULL. */
int gs_cmdline_split(const char *text, char ***argv, int *argc, const char **err);
/* Quote one word so that gs_cmdline_split gives it back unchanged (for generated configs). */
char *gs_cmdline_quote(const char *word);

#endif
