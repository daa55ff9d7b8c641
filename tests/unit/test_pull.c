#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "pull.h"

/* The terminal progress line: bytes, percentage, bar, speed, time left. */
static const struct {
    int64_t done, total;
    double speed;
    const char *want;
} lines[] = {
    {0, 1000, 0, "m    0% [>         ] 0 B / 1.0 kB  0 B/s"},
    {500, 1000, 100, "m   50% [=====>    ] 500 B / 1.0 kB  100 B/s  0:05 left"},
    {1000, 1000, 100, "m  100% [==========] 1.0 kB / 1.0 kB  100 B/s  0:00 left"},
    {1500000000, 3000000000, 1e6, "m   50% [=====>    ] 1.5 GB / 3.0 GB  1.0 MB/s  25:00 left"},
    {4000, 1000, 1e3, "m  100% [==========] 4.0 kB / 1.0 kB  1.0 kB/s"},
    {3.6e9, 7.2e9, 1e6, "m   50% [=====>    ] 3.6 GB / 7.2 GB  1.0 MB/s  1:00:00 left"},
    {1234, -1, 10, "m  1.2 kB  10 B/s"},
};

Test(pull, progress_line)
{
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char out[300];
        gs_pull_progress_line(out, sizeof out, "m", lines[i].done, lines[i].total,
                              lines[i].speed, 10);
        cr_expect_str_eq(out, lines[i].want);
    }
}
