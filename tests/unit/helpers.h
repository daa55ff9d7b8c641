/* Shared by the unit tests: a config from YAML text that must load. */
#ifndef GS_TEST_HELPERS_H
#define GS_TEST_HELPERS_H
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static inline gs_config *test_config(const char *yaml)
{
    gs_config *c = NULL;
    gs_diag d = {0};
    int rc = gs_config_parse(yaml, strlen(yaml), "t.yaml", &c, &d);
    char *all = gs_diag_join(&d);
    cr_assert_eq(rc, 0, "config failed: %s", all);
    free(all);
    gs_diag_free(&d);
    return c;
}

#endif
