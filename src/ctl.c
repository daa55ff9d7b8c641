#include "ctl.h"

#include <stdio.h>

int gs_ctl_main(int argc, char **argv)
{
    fprintf(stderr, "ggswap ctl: not built yet\n");
    return 1;
}
