/* strv: NULL-terminated string vectors with a count beside them.
 *
 * Config lists (aliases, env, paths), scan results, problems and argv copies are all a
 * `char **` that owns its strings plus an `int` count. They are kept NULL-terminated so that
 * either form (counted or terminated) can be walked and freed; these are the only helpers that
 * build and free them, so a vector made by one module can be freed by another. */
#ifndef GS_STRV_H
#define GS_STRV_H
#include <stdbool.h>

/* Append s (taken over: freed with the vector) and keep v NULL-terminated. *v may be NULL. */
void gs_strv_push(char ***v, int *n, char *s);
/* Whether one of the first n strings of v equals s. */
bool gs_strv_has(char *const *v, int n, const char *s);
/* A deep copy of the first n strings, NULL-terminated (an empty vector when n is 0). */
char **gs_strv_dup(char *const *v, int n);
/* Free a NULL-terminated vector and its strings. NULL is fine. */
void gs_strv_free(char **v);
/* Free the first n strings and the vector (for vectors that may hold NULL holes). */
void gs_strv_free_n(char **v, int n);

#endif
