/* ctl: `ggswap ctl`, the service controls of the page from a terminal.
 *
 * A small blocking HTTP client (one request per command, no event loop) that talks to a
 * running ggswap: status, start, stop, restart, regenerate, models, load, unload. Output is
 * meant for people (a short table or one line); the exit code is 0 on success, 1 when the
 * daemon answered with an error or cannot be reached, 2 on usage errors. */
#ifndef GS_CTL_H
#define GS_CTL_H

/* argv[0] is "ctl". Returns the process exit code. */
int gs_ctl_main(int argc, char **argv);

#endif
