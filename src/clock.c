/* clock: monotonic and wall time (see clock.h). */
#include "clock.h"

#include <uv.h>

uint64_t gs_clock_ns(void)
{
    return uv_hrtime();
}

uint64_t gs_clock_ms(void)
{
    return uv_hrtime() / 1000000u;
}

uint64_t gs_clock_wall_ms(void)
{
    uv_timeval64_t tv;
    if (uv_gettimeofday(&tv) != 0)
        return 0;
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}
