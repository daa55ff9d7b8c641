/* cli: the command line. One table of commands (serve, config check, config generate, scan,
 * ctl, version, help), each with its flags; every flag is read in Go's forms (flags.h), so
 * `ggswap -config F -listen :8080 -watch-config`, written for llama-swap, starts the same
 * daemon as `ggswap serve --config F --listen :8080 --watch-config`.
 *
 * Bare flags (no command) mean `serve`. A usage error prints what was wrong, naming the flag,
 * and exits 2 before anything starts. */
#ifndef GS_CLI_H
#define GS_CLI_H

/* The whole program: argv as main gets it. Returns the exit code. */
int gs_cli_main(int argc, char **argv);

#endif
