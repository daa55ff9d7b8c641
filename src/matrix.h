/* matrix: llama-swap's swap matrix (`routing.router.use: matrix`), parsed and solved.
 *
 * A matrix lists named sets; each set is a small expression over model names (or `vars`, short
 * names for them): `a & b` runs together, `a | b` is a choice, parentheses group, `+name` puts
 * another set inline. A set allows every combination it spells and every subset of one. When a
 * model is wanted, the solver looks at each combination that holds it and keeps the one whose
 * evictions cost least (each running model costs its `evict_costs` entry, 1 by default; ties go
 * to the earlier set, sets that others inline first); the running models outside it must stop.
 * A model that no set names runs alone. Pure: no I/O, no state after compiling, so the scheduler
 * asks, config check reports and the unit tests and the fuzzer check the same code. */
#ifndef GS_MATRIX_H
#define GS_MATRIX_H
#include <stdbool.h>
#include <stddef.h>

typedef struct gs_matrix gs_matrix;

/* One named set as written under `sets:`. */
typedef struct gs_matrix_set_def {
    const char *name;
    const char *dsl;
} gs_matrix_set_def;

/* Turns an identifier of the DSL (a var or a model id) into a model index in [0, nmodels),
 * or -1 when it names neither. */
typedef int (*gs_matrix_resolve_fn)(const char *ident, void *ud);

/* Parse, resolve and link the sets. On success *out is set and 0 returned. On error returns
 * -EINVAL with a message in err ("set \"s\": unknown var or model \"x\"", "set \"s\": parse:
 * missing closing parenthesis", ...) and *bad set to the index in `sets` of the set at fault
 * (-1 when it is about the matrix as a whole). */
int gs_matrix_compile(const gs_matrix_set_def *sets, int nsets, int nmodels,
                      gs_matrix_resolve_fn resolve, void *ud, gs_matrix **out, int *bad,
                      char *err, size_t errlen);
void gs_matrix_free(gs_matrix *m);

/* Syntax only (no names resolved): 0, or -EINVAL with the reason in err. */
int gs_matrix_parse_check(const char *dsl, char *err, size_t errlen);

/* Which running models must stop before `target` may run. running[i] and evict[i] are per
 * model (nmodels entries each); costs is per model too, or NULL for 1 each (entries below 1
 * count as 1). A running target evicts nothing. Returns the compiled index of the chosen set,
 * or -1 when none was used (target running, or in no set: then every other model goes). */
int gs_matrix_solve(const gs_matrix *m, int target, const bool *running, const int *costs,
                    bool *evict);

/* True when one combination of one set holds all n models (n == 0: true). */
bool gs_matrix_together(const gs_matrix *m, const int *models, int n);

/* Sets in the order the solver tries them (for logs). */
int gs_matrix_nsets(const gs_matrix *m);
const char *gs_matrix_set_name(const gs_matrix *m, int set);
const char *gs_matrix_set_dsl(const gs_matrix *m, int set);

#endif
