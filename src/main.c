/* ggswap: everything is in cli.c (the command table); `__child` is the internal shim that
 * starts model processes, checked first so that nothing else runs in a model's child. */
#include <string.h>

#include "cli.h"
#include "proc.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "__child") == 0)
        return gs_proc_shim_main(argc - 1, argv + 1);
    return gs_cli_main(argc, argv);
}
